"""Storage on SQLite and on a real PostgreSQL: escalations, references, feedback, outbox claims."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from helpcenter.db import Escalation, OutboxMessage, utcnow
from helpcenter.support import storage as storage_mod
from helpcenter.support.storage import DuplicateReference, NewAttachment, Storage, StorageUnavailable

from .databases import database_url, store  # noqa: F401  (fixtures: sqlite and postgresql)

FIELDS = {"name": "小王", "email": "user@example.com", "phone": None, "category": "account",
          "subject": "收不到验证码", "description": "重置密码的时候一直收不到短信验证码。", "device": None,
          "order_number": None}



def other(url: str) -> Storage:
    """A second Storage on the same database: another process or node, as far as the database knows."""
    return Storage(url)


def test_add_and_get_escalation(store):
    att = NewAttachment("a" * 32 + ".png", "截图.png", "image/png", 123)
    esc = store.add_escalation(dict(FIELDS), {"query": "验证码", "read": ["account/forgot-password"]}, [att],
                               outbox=[("support_email", "support@example.com"), ("webhook", "http://x/hook")])
    got = store.get_escalation(esc.reference)
    assert got.subject == FIELDS["subject"] and got.name == "小王" and got.status == "new"
    assert got.created_at.tzinfo is not None
    assert abs(got.created_at - utcnow()) < dt.timedelta(minutes=1)
    data = got.as_json()
    assert data["context"]["read"] == ["account/forgot-password"]
    assert data["attachments"] == [{"stored_name": "a" * 32 + ".png", "original_name": "截图.png",
                                    "content_type": "image/png", "size": 123}]
    rows = store.outbox_messages(esc.reference)
    assert [(r.channel, r.target, r.status, r.attempts) for r in rows] == [
        ("support_email", "support@example.com", "pending", 0), ("webhook", "http://x/hook", "pending", 0)]
    assert store.get_escalation("HC-20000101-0000") is None


def test_escalation_and_its_outbox_rows_commit_together(store):
    # The second row breaks the one-row-per-channel rule: nothing of the request may remain.
    with pytest.raises(StorageUnavailable):
        store.add_escalation(dict(FIELDS), {}, [], outbox=[("webhook", "a"), ("webhook", "b")])
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Escalation)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_given_reference_is_stored_once(store):
    created = utcnow() - dt.timedelta(hours=3)
    esc = store.add_escalation(dict(FIELDS), {}, [], reference="HC-20261121-AAAA", created_at=created)
    assert esc.reference == "HC-20261121-AAAA"
    assert abs(store.get_escalation("HC-20261121-AAAA").created_at - created) < dt.timedelta(seconds=1)
    with pytest.raises(DuplicateReference):
        store.add_escalation(dict(FIELDS), {}, [], reference="HC-20261121-AAAA", outbox=[("webhook", "x")])
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Escalation)) == 1
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_unique_references_under_concurrency(store, database_url, monkeypatch):  # noqa: F811
    # Four writers (separate engines, like separate nodes) draw the SAME reference at the same
    # moment for each request: exactly one may get it, the others must draw again.
    local = threading.local()
    barrier = threading.Barrier(4)

    def drawing(today=None):
        local.draws += 1
        if local.draws == 1:
            return f"HC-20261121-S{local.i:03d}"
        return f"HC-20261121-{local.t}{local.i:02d}{local.draws}"

    monkeypatch.setattr(storage_mod, "new_reference", drawing)
    stores = [other(database_url) for _ in range(4)]
    refs: list[str] = []
    errors: list[BaseException] = []

    def work(t: int, st: Storage) -> None:
        local.t = t
        try:
            for i in range(10):
                local.i, local.draws = i, 0
                barrier.wait()
                refs.append(st.add_escalation(dict(FIELDS, subject=f"主题 {i}"), {}, [],
                                              outbox=[("webhook", "x")]).reference)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(t, st)) for t, st in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for st in stores:
        st.engine.dispose()
    assert not errors
    assert len(refs) == 40 and len(set(refs)) == 40
    assert sorted(r for r in refs if "-S" in r) == [f"HC-20261121-S{i:03d}" for i in range(10)]
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Escalation)) == 40
        assert s.scalar(select(func.count(func.distinct(OutboxMessage.escalation_id)))) == 40


def test_feedback_and_comment(store):
    fid = store.add_feedback("account/forgot-password", False, None)
    assert store.add_feedback_comment(fid, "account/forgot-password", "没说收不到短信怎么办")
    assert not store.add_feedback_comment(fid, "orders/track-order", "wrong article")
    store.add_feedback("account/forgot-password", True, None)
    store.add_feedback("account/forgot-password", True, None)
    counts = {(a, h): n for a, h, n in store.feedback_counts()}
    assert counts == {("account/forgot-password", False): 1, ("account/forgot-password", True): 2}


def test_views_and_popular(store):
    for _ in range(3):
        store.count_view("orders/track-order")
    store.count_view("account/forgot-password")
    assert store.popular(2) == ["orders/track-order", "account/forgot-password"]


def _queue(store: Storage, n: int, channels=("webhook",)) -> list[str]:
    return [store.add_escalation(dict(FIELDS, subject=f"主题 {i}"), {}, [],
                                 outbox=[(c, "t") for c in channels]).reference for i in range(n)]


def test_claim_is_exclusive_and_counts_attempts(store):
    _queue(store, 3, channels=("webhook", "support_email"))
    first = store.claim_outbox("w1", limit=4)
    assert len(first) == 4 and all(m.attempts == 1 for m in first)
    second = store.claim_outbox("w2", limit=10)
    assert len(second) == 2 and not {m.id for m in first} & {m.id for m in second}
    assert store.claim_outbox("w3", limit=10) == []
    assert store.mark_delivered(first[0].id, "w1")
    assert not store.mark_delivered(first[0].id, "w1")  # only once
    assert not store.mark_delivered(second[0].id, "w1")  # not w1's claim
    assert store.outbox_counts() == {"delivered": 1, "sending": 5}


def test_failed_rows_wait_for_their_retry_time_then_give_up(store):
    _queue(store, 1)
    (m,) = store.claim_outbox("w1")
    later = utcnow() + dt.timedelta(seconds=60)
    assert store.mark_failed(m.id, "w1", "ConnectionRefusedError: nobody home", later)
    (row,) = store.outbox_messages()
    assert row.status == "pending" and row.attempts == 1 and "nobody home" in row.last_error
    assert abs(row.next_attempt_at - later) < dt.timedelta(seconds=1)
    assert store.claim_outbox("w1") == []  # not due yet
    (m,) = store.claim_outbox("w1", now=later + dt.timedelta(seconds=1))
    assert m.attempts == 2
    assert store.mark_failed(m.id, "w1", "still down", None)  # give up
    (row,) = store.outbox_messages()
    assert row.status == "failed" and row.attempts == 2 and row.last_error == "still down"
    assert store.claim_outbox("w1", now=later + dt.timedelta(days=1)) == []  # kept, never retried by itself
    assert store.retry_failed() == 1
    (m,) = store.claim_outbox("w1")
    assert m.attempts == 1


def test_expired_claim_is_taken_over_and_the_old_worker_cannot_finish_it(store):
    _queue(store, 1)
    (m,) = store.claim_outbox("dead-worker", lease_seconds=30)
    assert store.claim_outbox("w2") == []  # the lease still runs
    (again,) = store.claim_outbox("w2", now=utcnow() + dt.timedelta(seconds=31))
    assert again.id == m.id and again.attempts == 2
    assert not store.mark_delivered(m.id, "dead-worker")
    assert store.mark_delivered(m.id, "w2")
    assert store.outbox_counts() == {"delivered": 1}


def test_concurrent_workers_claim_each_row_exactly_once(store, database_url):  # noqa: F811
    _queue(store, 30, channels=("webhook", "support_email"))
    workers = [other(database_url) for _ in range(4)]
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(len(workers))

    def work(name: str, st: Storage) -> None:
        mine = claimed.setdefault(name, [])
        barrier.wait()
        while batch := st.claim_outbox(name, limit=3):
            for m in batch:
                mine.append(m.id)
                assert st.mark_delivered(m.id, name)

    threads = [threading.Thread(target=work, args=(f"w{i}", st)) for i, st in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for st in workers:
        st.engine.dispose()
    all_ids = [i for ids in claimed.values() for i in ids]
    assert len(all_ids) == 60 and len(set(all_ids)) == 60
    assert store.outbox_counts() == {"delivered": 60}
    assert all(r.attempts == 1 and r.delivered_at is not None for r in store.outbox_messages())


def test_deleting_an_escalation_removes_its_outbox_rows(store):
    (ref,) = _queue(store, 1, channels=("webhook", "support_email"))
    with store.session() as s, s.begin():
        s.delete(s.scalar(select(Escalation).where(Escalation.reference == ref)))
    assert store.outbox_messages() == []


def test_unreachable_database_raises_storage_unavailable(tmp_path):
    st = Storage(f"sqlite:///{tmp_path}/missing/db.sqlite")
    with pytest.raises(StorageUnavailable):
        st.add_escalation(dict(FIELDS), {}, [])
    with pytest.raises(StorageUnavailable):
        st.claim_outbox("w")
    assert not st.ping()
    (tmp_path / "missing").mkdir()  # back: the tables are created on first use
    assert st.add_escalation(dict(FIELDS), {}, []).reference
