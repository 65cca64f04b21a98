"""helpcenter.support.tickets: what agents and requesters do to a request, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import update

from helpcenter.db import Escalation, utcnow
from helpcenter.engine.text import get_tokenizer
from helpcenter.support import inbox, staff, tickets
from helpcenter.support.storage import NewAttachment

from .databases import database_url, store  # noqa: F401  (fixtures)

FIELDS = {"name": "小王", "email": "wang@example.com", "phone": None, "category": "account",
          "subject": "忘记密码了", "description": "我忘记了登录密码，短信验证码也收不到，怎么办？",
          "device": None, "order_number": "A1234567"}
PASSWORD = "a long enough passphrase"


def new_request(store, **fields) -> str:  # noqa: F811
    return store.add_escalation({**FIELDS, **fields}, {"query": "密码忘了", "shown": ["account/forgot-password"]},
                                []).reference


@pytest.fixture
def agent(store):  # noqa: F811
    return tickets.Actor.staff(staff.add_staff(store, "agent@example.com", "agent", PASSWORD))


def kinds(store, ref: str, public_only: bool = False) -> list[str]:  # noqa: F811
    esc = store.get_escalation(ref)
    return [ev.kind for ev in tickets.timeline(store, esc.id, public_only=public_only)]


def test_a_reply_waits_for_the_requester_and_queues_its_email_in_the_same_step(store, agent):  # noqa: F811
    ref = new_request(store)
    event_id = tickets.reply(store, ref, agent, "  请在登录页点“找回密码”。\r\n", email=True)
    esc = store.get_escalation(ref)
    assert esc.status == "pending"
    [ev] = [e for e in tickets.timeline(store, esc.id) if e.kind == "reply"]
    assert ev.id == event_id and ev.body == "请在登录页点“找回密码”。" and ev.public and ev.actor == "agent@example.com"
    assert [m.channel for m in store.outbox_messages(ref)] == [f"reply:{event_id}"]
    tickets.reply(store, ref, agent, "还在吗？", wait_for_requester=False, email=False)
    assert store.get_escalation(ref).status == "open"
    assert len(store.outbox_messages(ref)) == 1  # no e-mail asked for: nothing queued


def test_notes_are_never_public_and_the_requester_sees_only_the_conversation(store, agent):  # noqa: F811
    ref = new_request(store)
    tickets.add_note(store, ref, agent, "疑似盗号，先核实手机号")
    tickets.reply(store, ref, agent, "请提供绑定的手机号")
    tickets.requester_message(store, ref, "手机号是 138…")
    assert kinds(store, ref, public_only=True) == ["reply", "message"]
    assert "note" in kinds(store, ref)
    assert store.get_escalation(ref).status == "open"  # the requester answered: back to the agents


def test_solving_needs_exactly_one_resolution(store, agent):  # noqa: F811
    ref = new_request(store)
    for kwargs in ({}, {"article": "account/forgot-password", "no_article_note": "也缺"}, {"no_article_note": "  "}):
        with pytest.raises(tickets.TicketError) as err:
            tickets.solve(store, ref, agent, **kwargs)
        assert err.value.code == "resolution_required"
    assert store.get_escalation(ref).status == "new"  # nothing changed
    tickets.solve(store, ref, agent, article="account/forgot-password")
    esc = store.get_escalation(ref)
    assert (esc.status, esc.resolution, esc.resolution_article) == ("solved", "article", "account/forgot-password")


def test_resolutions_are_learning_data_and_a_reopened_one_no_longer_counts(store, agent):  # noqa: F811
    linked, gap = new_request(store), new_request(store, subject="想注销账号")
    tickets.solve(store, linked, agent, article="account/forgot-password")
    tickets.solve(store, gap, agent, no_article_note="没有讲注销账号的文章")
    data = {r["reference"]: r for r in tickets.resolutions(store)}
    assert data[linked]["article"] == "account/forgot-password" and data[linked]["query"] == "密码忘了"
    assert data[gap]["resolution"] == "no_article" and data[gap]["note"] == "没有讲注销账号的文章"
    tickets.reopen(store, gap, days=7)
    assert [r["reference"] for r in tickets.resolutions(store)] == [linked]


def test_reopen_only_within_the_days_and_auto_close_after_them(store, agent):  # noqa: F811
    recent, old = new_request(store), new_request(store)
    for ref in (recent, old):
        tickets.solve(store, ref, agent, article="account/forgot-password")
    with store.session() as s, s.begin():
        s.execute(update(Escalation).where(Escalation.reference == old)
                  .values(solved_at=utcnow() - dt.timedelta(days=8)))
    with pytest.raises(tickets.TicketError):
        tickets.reopen(store, old, days=7)
    assert tickets.close_solved(store, 7) == [old]
    assert tickets.close_solved(store, 7) == []  # a second pass (another node) finds nothing
    assert store.get_escalation(old).status == "closed" and store.get_escalation(recent).status == "solved"
    with pytest.raises(tickets.TicketError) as err:
        tickets.requester_message(store, old, "还是不行")
    assert err.value.code == "closed"
    tickets.reopen(store, recent, days=7)
    assert store.get_escalation(recent).status == "open"
    assert store.get_escalation(recent).solved_at is None


def test_a_message_with_screenshots_keeps_them_with_the_message(store):  # noqa: F811
    ref = new_request(store)
    tickets.requester_message(store, ref, "补一张截图", [NewAttachment("abc123.png", "报错.png", "image/png", 10)])
    esc = store.get_escalation(ref)
    [message] = [e for e in tickets.timeline(store, esc.id) if e.kind == "message"]
    assert [a.original_name for a in message.files] == ["报错.png"]
    assert esc.status == "new"  # nobody has looked at it yet: it stays new


def test_assign_only_to_active_agents(store, agent):  # noqa: F811
    ref = new_request(store)
    writer = staff.add_staff(store, "writer@example.com", "writer", PASSWORD)
    with pytest.raises(tickets.TicketError):
        tickets.assign(store, ref, agent, writer.id)
    tickets.assign(store, ref, agent, agent.staff_id)
    assert store.get_escalation(ref).assignee_id == agent.staff_id
    assert inbox.list_requests(store, assignee=agent.staff_id)[0].reference == ref
    assert inbox.list_requests(store, assignee="none") == []


def test_bad_bodies_are_refused_with_what_is_wrong(store, agent):  # noqa: F811
    ref = new_request(store)
    with pytest.raises(tickets.TicketError) as err:
        tickets.reply(store, ref, agent, " \n ")
    assert err.value.code == "required"
    with pytest.raises(tickets.TicketError) as err:
        tickets.add_note(store, ref, agent, "长" * (tickets.MAX_BODY + 1))
    assert err.value.code == "too_long" and str(tickets.MAX_BODY + 1) in str(err.value)
    with pytest.raises(tickets.TicketError) as err:
        tickets.reply(store, "HC-20990101-XXXX", agent, "你好")
    assert err.value.code == "not_found"
    assert kinds(store, ref) == []


def test_inbox_search_reads_chinese_words_not_substrings(store):  # noqa: F811
    ref = new_request(store)
    other = new_request(store, subject="退款还没到", description="上周申请的退款一直没有到账")
    tokenizer = get_tokenizer("articles/_dictionary.txt")
    assert tickets.backfill_terms(store, tokenizer.tokens) == 2
    assert tickets.backfill_terms(store, tokenizer.tokens) == 0  # already cut

    def found(q: str) -> list[str]:
        return [e.reference for e in inbox.list_requests(store, text=inbox.TextQuery(q, tuple(tokenizer.tokens(q))))]

    assert found("密码忘了") == [ref]      # word order and 忘/忘记 differ from the text
    assert found("忘記密碼") == [ref]      # 繁體, normalised by the tokeniser
    assert found("退款") == [other]
    assert found("注销") == []
    assert found(ref.lower()) == [ref]    # a reference typed whole, in any case
    assert set(found("WANG@example.com")) == {ref, other}  # an address typed whole, in any case
    assert set(found("A1234567")) == {ref, other}  # the order number
    assert inbox.count_requests(store, text=inbox.TextQuery("退款", ("退款",))) == 1


def test_two_agents_acting_at_once_both_land_in_the_timeline(store):  # noqa: F811
    ref = new_request(store)
    agents = [tickets.Actor.staff(staff.add_staff(store, f"a{i}@example.com", "agent", PASSWORD)) for i in range(2)]
    errors: list[Exception] = []

    def act(i: int) -> None:
        try:
            for n in range(5):
                tickets.add_note(store, ref, agents[i], f"备注 {i}-{n}")
        except Exception as exc:  # pragma: no cover - shown by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=act, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert kinds(store, ref).count("note") == 10


def test_with_no_auto_close_a_solved_request_can_always_be_reopened(store, agent):  # noqa: F811
    ref = new_request(store)
    tickets.solve(store, ref, agent, article="account/forgot-password")
    with store.session() as s, s.begin():
        s.execute(update(Escalation).where(Escalation.reference == ref)
                  .values(solved_at=utcnow() - dt.timedelta(days=400)))
    assert tickets.close_solved(store, 0) == []
    tickets.reopen(store, ref, days=0)
    assert store.get_escalation(ref).status == "open"
