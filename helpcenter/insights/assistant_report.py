"""The assistant in the writers' report: how many conversations it had, how many it resolved, how
many it handed to a person, and the questions where it failed.

"Resolved by the assistant" is a conversation where the person said "是" (or thanked it after an
answer), or that ended without a hand-over. Its failed questions are its searches with no
confident answer; they also join the report's unanswered groups, the writers' content-gap view.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import case, func, or_, select

from ..db import Conversation, SearchLog

TOP_FAILED = 20


def summary(s: Any, start: dt.datetime, end: dt.datetime, top: int = TOP_FAILED) -> dict[str, Any]:
    """Counts for conversations begun in ``start``..``end`` (a session of the report's)."""
    begun = (Conversation.created_at >= start) & (Conversation.created_at < end)
    total, said_yes, handed = s.execute(select(
        func.count(), func.sum(case((Conversation.resolved.is_(True), 1), else_=0)),
        func.sum(case((Conversation.handed_over.is_(True), 1), else_=0))).where(begun)).one()
    resolved = s.scalar(select(func.count()).select_from(Conversation).where(
        begun, or_(Conversation.resolved.is_(True), Conversation.handed_over.is_(False)))) or 0
    by_channel = dict(s.execute(select(Conversation.channel, func.count()).where(begun)
                                .group_by(Conversation.channel)).all())
    in_range = (SearchLog.created_at >= start) & (SearchLog.created_at < end) & (SearchLog.source == "assist")
    failed = [{"query": q, "asked": int(n)} for q, n in s.execute(
        select(SearchLog.query, func.count()).where(in_range, SearchLog.confident.is_(False))
        .group_by(SearchLog.query).order_by(func.count().desc(), SearchLog.query).limit(top)).all()]
    total = int(total or 0)
    return {"conversations": total, "resolved": int(resolved), "said_yes": int(said_yes or 0),
            "handed_over": int(handed or 0), "resolved_rate": round(resolved / total, 4) if total else None,
            "by_channel": {k: int(v) for k, v in sorted(by_channel.items())}, "failed_questions": failed}


def csv_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [{"section": "assistant", "rank": "", "item": k, "title": "", "count": data[k], "share": "",
             "details": ""} for k in ("conversations", "resolved", "said_yes", "handed_over")]
    rows += [{"section": "assistant_failed", "rank": i, "item": f["query"], "title": "", "count": f["asked"],
              "share": "", "details": ""} for i, f in enumerate(data["failed_questions"], 1)]
    return rows


def text_lines(data: dict[str, Any]) -> list[str]:
    rate = data["resolved_rate"]
    channels = "，".join(f"{k} {v}" for k, v in data["by_channel"].items()) or "—"
    lines = ["", f"智能助手：对话 {data['conversations']} 次（{channels}）；自助解决 {data['resolved']} 次"
                 f"{'' if rate is None else f'（{rate:.0%}）'}，其中回答“是” {data['said_yes']} 次；"
                 f"转人工 {data['handed_over']} 次", "智能助手没能回答的问题："]
    lines += [f"  {i}. {f['query']}  ×{f['asked']}" for i, f in enumerate(data["failed_questions"], 1)] or ["  （无）"]
    return lines
