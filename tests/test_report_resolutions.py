"""The writers' report learns from agents' resolutions (insights/resolutions.py via report.py):
"客服人工解答的问题" and "客服指出的内容缺口", in the page, the CSV, the JSON and the text, on both databases."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from helpcenter.cli import main
from helpcenter.db import Escalation, utcnow
from helpcenter.insights.report import build_report, default_period
from helpcenter.support import staff, tickets

from .conftest import csrf_from
from .databases import database_url  # noqa: F401  (fixture: sqlite and postgresql)

PASSWORD = "a long enough passphrase"
ZONE = "Asia/Shanghai"
FORGOT = "account/forgot-password"
TRACK = "orders/track-order"


def ask(store, subject: str, query: str = "", shown: tuple[str, ...] = (), **fields) -> str:
    base = {"name": "小王", "email": "wang@example.com", "category": "account", "subject": subject,
            "description": "详细情况写在这里。"}
    return store.add_escalation({**base, **fields}, {"query": query, "shown": list(shown)}, []).reference


def solved_days_ago(store, ref: str, days: float) -> None:
    with store.session() as s, s.begin():
        s.execute(update(Escalation).where(Escalation.reference == ref)
                  .values(solved_at=utcnow() - dt.timedelta(days=days)))


@pytest.fixture
def app(make_app, database_url):  # noqa: F811
    return make_app(database_url=database_url, support_timezone=ZONE)


@pytest.fixture
def solved(app):
    """Agents solved five requests this week and one long ago; one more was solved, then reopened."""
    store = app.extensions["hc_storage"]
    agent = tickets.Actor.staff(staff.add_staff(store, "agent@example.com", "agent", PASSWORD))
    refs = {
        # Search showed the article to this one, who still asked: its text did not convince.
        "shown": ask(store, "验证码一直收不到", "收不到验证码", shown=(FORGOT,)),
        # Search never showed it: the article lacks these words. The phone number is masked.
        "missed": ask(store, "手机 13800138000 换号了怎么登录", "换手机号登录"),
        "track": ask(store, "=HYPERLINK(\"http://evil\")", category="orders"),  # no search: the form only
        "gap_old": ask(store, "想注销账号", "注销账号"),
        "gap_new": ask(store, "能开专票吗", "增值税专用发票", category="orders"),
        "long_ago": ask(store, "很久以前的问题", "旧问题"),
        "reopened": ask(store, "重新打开的", "重开"),
    }
    for key in ("shown", "missed", "long_ago", "reopened"):
        tickets.solve(store, refs[key], agent, article=FORGOT)
    tickets.solve(store, refs["track"], agent, article=TRACK)
    tickets.solve(store, refs["gap_old"], agent, no_article_note="没有讲注销账号的文章，用户邮箱 a@b.cn")
    tickets.solve(store, refs["gap_new"], agent, no_article_note="缺少开专票的说明")
    solved_days_ago(store, refs["gap_old"], 0.5)
    solved_days_ago(store, refs["long_ago"], 40)
    tickets.reopen(store, refs["reopened"], days=7)  # not solved after all: it teaches nothing
    return refs


def this_week():
    today = default_period(ZONE)[1]
    return today - dt.timedelta(days=6), today


def test_the_report_groups_agents_answers_by_article_and_lists_the_gaps_newest_first(app, solved):
    since, until = this_week()
    report = build_report(app.extensions["hc_storage"], None, since, until, timezone=ZONE,
                          titles={FORGOT: "忘记密码怎么重置"})
    answered = report.answered_by_agents
    assert [(a["article"], a["requests"], a["shown_before"]) for a in answered] == [(FORGOT, 2, 1), (TRACK, 1, 0)]
    assert answered[0]["title"] == "忘记密码怎么重置"
    questions = {(q["query"], q["subject"]) for q in answered[0]["questions"]}
    assert questions == {("收不到验证码", "验证码一直收不到"), ("换手机号登录", "手机 <数字> 换号了怎么登录")}
    assert [(g["note"], g["subject"], g["query"], g["category"]) for g in report.content_gaps] == [
        ("缺少开专票的说明", "能开专票吗", "增值税专用发票", "orders"),
        ("没有讲注销账号的文章，用户邮箱 <邮箱>", "想注销账号", "注销账号", "account")]
    assert (report.summary["solved_with_article"], report.summary["solved_no_article"]) == (3, 2)

    # The period counts by when a request was solved: the one solved 40 days ago is in its own month.
    old = build_report(app.extensions["hc_storage"], None, since - dt.timedelta(days=40),
                       since - dt.timedelta(days=30), timezone=ZONE)
    assert [(a["article"], a["requests"]) for a in old.answered_by_agents] == [(FORGOT, 1)]
    assert old.answered_by_agents[0]["questions"] == [{"query": "旧问题", "subject": "很久以前的问题"}]
    assert old.content_gaps == [] and old.summary["solved_no_article"] == 0
    top1 = build_report(app.extensions["hc_storage"], None, since, until, timezone=ZONE, top=1)
    assert len(top1.answered_by_agents) == 1 and len(top1.content_gaps) == 1  # rows per section


def test_the_sections_are_in_the_json_csv_and_text(app, solved):
    since, until = this_week()
    report = build_report(app.extensions["hc_storage"], None, since, until, timezone=ZONE)
    data = json.loads(json.dumps(report.as_json(), ensure_ascii=False))
    assert data["answered_by_agents"][0]["article"] == FORGOT and len(data["content_gaps"]) == 2
    assert data["summary"]["solved_no_article"] == 2

    table = list(csv.DictReader(io.StringIO(report.to_csv())))
    answered = [r for r in table if r["section"] == "answered_by_agents"]
    assert [(r["rank"], r["item"], r["count"], r["share"]) for r in answered] == [
        ("1", FORGOT, "2", "0.5"), ("2", TRACK, "1", "0.0")]
    assert "收不到验证码 / 验证码一直收不到" in answered[0]["details"]
    assert answered[1]["details"].startswith("'=HYPERLINK")  # typed into the form: no formula for the spreadsheet
    gaps = [r for r in table if r["section"] == "content_gaps"]
    assert [(r["item"], r["title"], r["details"]) for r in gaps][0] == ("缺少开专票的说明", "orders",
                                                                       "增值税专用发票 / 能开专票吗")
    text = report.to_text()
    assert "客服人工解答的问题" in text and "客服指出的内容缺口" in text
    assert "2 条求助（其中 1 条搜索时曾展示这篇）" in text and "缺少开专票的说明  ← 增值税专用发票 / 能开专票吗" in text
    assert "客服解决 5 条：用文章解答 3 条，没有文章涵盖 2 条" in text


def test_an_empty_period_says_so(app):
    since, until = this_week()
    report = build_report(app.extensions["hc_storage"], None, since, until, timezone=ZONE)
    assert report.answered_by_agents == [] and report.content_gaps == []
    assert "（无）" in report.to_text().split("客服人工解答的问题")[1]


def writer_client(app):
    staff.add_staff(app.extensions["hc_storage"], "writer@example.com", "writer", PASSWORD)
    client = app.test_client()
    assert client.post("/admin/login", data={"csrf_token": csrf_from(client), "email": "writer@example.com",
                                             "password": PASSWORD}).status_code == 302
    return client


def test_the_admin_page_and_its_csv_show_both_sections_for_the_chosen_period(app, solved):
    client = writer_client(app)
    since, until = this_week()
    html = client.get("/admin", query_string={"since": since.isoformat(), "until": until.isoformat()}
                      ).get_data(as_text=True)
    agents = html.split('id="agents-title"')[1].split("</section>")[0]
    assert "忘记密码怎么重置" in agents and "收不到验证码" in agents and "验证码一直收不到" in agents
    assert "13800138000" not in html and "手机 &lt;数字&gt; 换号了怎么登录" in agents
    assert "很久以前的问题" not in html  # solved before the period
    gaps = html.split('id="gaps-title"')[1].split("</section>")[0]
    assert gaps.index("缺少开专票的说明") < gaps.index("没有讲注销账号的文章")  # newest first
    assert "a@b.cn" not in html
    assert "没有文章涵盖 <strong>2</strong> 条" in html

    before = client.get("/admin", query_string={"since": (since - dt.timedelta(days=40)).isoformat(),
                                                "until": (since - dt.timedelta(days=30)).isoformat()})
    older = before.get_data(as_text=True)
    assert "很久以前的问题" in older and "这段时间客服没有指出内容缺口" in older

    r = client.get("/admin/report.csv", query_string={"since": since.isoformat(), "until": until.isoformat()})
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True).lstrip("\ufeff"))))
    assert {r["section"] for r in rows} >= {"answered_by_agents", "content_gaps"}
    assert [r["item"] for r in rows if r["section"] == "content_gaps"] == [
        "缺少开专票的说明", "没有讲注销账号的文章，用户邮箱 <邮箱>"]


def test_the_report_command_includes_the_sections(app, built, solved):
    since, until = this_week()
    env = {"HELPCENTER_MODEL": "hash", "HELPCENTER_USER_DICT": "", "HELPCENTER_INDEX_DIR": built.index_dir,
           "HELPCENTER_INSTANCE_DIR": app.instance_path, "HELPCENTER_SUPPORT_TIMEZONE": ZONE,
           "HELPCENTER_DATABASE_URL": app.extensions["hc_settings"].database_url}
    args = ["report", "--since", since.isoformat(), "--until", until.isoformat()]
    res = CliRunner().invoke(main, args + ["--json"], env=env)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["answered_by_agents"][0]["title"] == "忘记密码怎么重置"  # titles from the index
    assert [g["note"] for g in data["content_gaps"]][0] == "缺少开专票的说明"
    text = CliRunner().invoke(main, args, env=env)
    assert text.exit_code == 0 and "客服指出的内容缺口" in text.output and "缺少开专票的说明" in text.output
