"""The request inbox queries (helpcenter.support.inbox) on SQLite and a real PostgreSQL, and /healthz."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from helpcenter.db import Escalation, utcnow
from helpcenter.support import inbox
from helpcenter.support.storage import NewAttachment, Storage

from .conftest import csrf_from
from .databases import database_url, store  # noqa: F401  (fixtures: sqlite and postgresql)

NOW = utcnow()


def add(store: Storage, ref: str, hours_ago: float, *, category: str = "account", status: str = "new",
        subject: str = "收不到验证码", **extra):
    fields = {"name": "小王", "email": "user@example.com", "phone": None, "category": category,
              "subject": subject, "description": "重置密码的时候一直收不到短信验证码。", "device": None,
              "order_number": None, **extra}
    esc = store.add_escalation(fields, {"query": "验证码", "read": ["account/forgot-password"]}, [],
                               reference=ref, created_at=NOW - dt.timedelta(hours=hours_ago))
    if status != "new":
        set_status(store, ref, status)
    return esc


def set_status(store: Storage, ref: str, status: str) -> None:
    # Nothing changes a status yet (the inbox's actions come later): set it as they will.
    with store.session() as s, s.begin():
        s.execute(update(Escalation).where(Escalation.reference == ref).values(status=status))



@pytest.fixture
def four(store):
    """Four requests over four days, newest first: D (new), C (solved, orders), B (new), A (new)."""
    add(store, "HC-20261101-000A", 72)
    add(store, "HC-20261102-000B", 48)
    add(store, "HC-20261103-000C", 24, category="orders", status="solved")
    add(store, "HC-20261104-000D", 1)
    return store


def refs(rows) -> list[str]:
    return [r.reference for r in rows]


def test_list_is_newest_first_and_filters_by_status_category_and_period(four):
    assert refs(inbox.list_requests(four)) == ["HC-20261104-000D", "HC-20261103-000C", "HC-20261102-000B",
                                              "HC-20261101-000A"]
    assert refs(inbox.list_requests(four, status="new")) == ["HC-20261104-000D", "HC-20261102-000B",
                                                            "HC-20261101-000A"]
    assert refs(inbox.list_requests(four, category="orders")) == ["HC-20261103-000C"]
    since, until = NOW - dt.timedelta(hours=50), NOW - dt.timedelta(hours=10)
    assert refs(inbox.list_requests(four, since=since, until=until)) == ["HC-20261103-000C", "HC-20261102-000B"]
    assert refs(inbox.list_requests(four, status="new", since=since)) == ["HC-20261104-000D", "HC-20261102-000B"]
    assert refs(inbox.list_requests(four, limit=2, offset=1)) == ["HC-20261103-000C", "HC-20261102-000B"]
    assert refs(inbox.list_requests(four, oldest_first=True, limit=1)) == ["HC-20261101-000A"]
    assert inbox.count_requests(four, status="new", since=since) == 2
    rows = inbox.list_requests(four, category="orders")
    assert rows[0].created_at.tzinfo is not None  # SQLite's naive datetimes come back as UTC
    assert abs(rows[0].created_at - (NOW - dt.timedelta(hours=24))) < dt.timedelta(seconds=1)


def test_period_bounds_must_say_their_time_zone(four):
    with pytest.raises(ValueError, match="time zone"):
        inbox.list_requests(four, since=dt.datetime(2026, 11, 1))


def test_counts_per_status_follow_the_other_filters(four):
    assert inbox.status_counts(four) == {"new": 3, "solved": 1}
    assert inbox.status_counts(four, category="account") == {"new": 3}
    assert inbox.status_counts(four, since=NOW - dt.timedelta(hours=30)) == {"new": 1, "solved": 1}


def test_one_request_with_its_screenshots_and_notifications(store):
    att = NewAttachment("b" * 32 + ".png", "截图.png", "image/png", 2048)
    esc = store.add_escalation({"email": "user@example.com", "category": "account", "subject": "收不到验证码",
                                "description": "一直收不到短信。"},
                               {"query": "验证码", "shown": ["account/forgot-password"], "unhelpful": []},
                               [att], outbox=[("support_email", "support@example.com"), ("webhook", "http://x/h")])
    detail = inbox.get_request(store, esc.reference.lower())  # typed from a phone call: case does not matter
    assert detail is not None and detail.escalation.reference == esc.reference
    data = detail.as_json()
    assert data["subject"] == "收不到验证码" and data["context"]["query"] == "验证码"
    assert [a["original_name"] for a in data["attachments"]] == ["截图.png"]
    assert [(d["channel"], d["status"]) for d in data["deliveries"]] == [("support_email", "pending"),
                                                                         ("webhook", "pending")]
    assert inbox.get_request(store, "HC-20000101-0000") is None


def test_unhandled_counts_new_requests_and_ages_the_oldest(store):
    empty = inbox.unhandled(store)
    assert (empty.count, empty.oldest_at, empty.as_json()) == (
        0, None, {"unhandled": 0, "oldest_unhandled_age_seconds": None})
    add(store, "HC-20261101-000A", 50, status="solved")  # handled: neither counted nor the oldest
    add(store, "HC-20261102-000B", 5)
    add(store, "HC-20261103-000C", 2)
    summary = inbox.unhandled(store, now=NOW)
    assert summary.count == 2 and summary.oldest_at.tzinfo is not None
    assert abs(summary.as_json()["oldest_unhandled_age_seconds"] - 5 * 3600) <= 1
    set_status(store, "HC-20261102-000B", "open")
    assert inbox.unhandled(store, now=NOW).as_json() == {"unhandled": 1, "oldest_unhandled_age_seconds": 2 * 3600}


# --- /healthz ----------------------------------------------------------------------------------------


def test_healthz_reports_unhandled_requests_without_changing_ok(client):
    before = client.get("/healthz")
    assert before.status_code == 200 and before.get_json()["ok"] is True
    assert before.get_json()["requests"] == {"unhandled": 0, "oldest_unhandled_age_seconds": None}
    form = {"csrf_token": csrf_from(client), "subject": "收不到验证码", "category": "account",
            "description": "重置密码的时候一直收不到短信验证码，已经试过三次了。", "email": "user@example.com"}
    assert client.post("/contact", data=form).status_code == 302
    after = client.get("/healthz")
    assert after.status_code == 200 and after.get_json()["ok"] is True
    requests = after.get_json()["requests"]
    assert requests["unhandled"] == 1 and 0 <= requests["oldest_unhandled_age_seconds"] < 60


def test_healthz_without_a_database_still_answers(make_app, tmp_path):
    client = make_app(database_url=f"sqlite:///{tmp_path}/missing-dir/db.sqlite").test_client()
    health = client.get("/healthz")
    body = health.get_json()
    assert health.status_code == 503 and body["database"] is False and body["requests"] is None
