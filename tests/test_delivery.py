"""Escalations are never lost: outbox delivery against real SMTP and HTTP servers on loopback
that go down and come back, and requests spooled while the database is away."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from helpcenter.cli import main
from helpcenter.db import Escalation
from helpcenter.support.delivery import Outbox, replay_spool, spooled_files, write_spool
from helpcenter.support.storage import NewAttachment, Storage, StorageUnavailable

from .conftest import csrf_from, free_port
from .databases import database_url, postgres_url  # noqa: F401  (fixtures)
from .test_web import REF_RE, contact_form, png_bytes

SUPPORT = "support@example.com"


class SmtpServer:
    """aiosmtpd on a fixed loopback port that can be stopped and started again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list = []
        self.controller = None

    def start(self) -> "SmtpServer":
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Message

        received = self.messages

        class Collect(Message):
            def handle_message(self, message):  # type: ignore[no-untyped-def]
                received.append(message)

        self.controller = Controller(Collect(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def refs(self, to: str) -> list[str]:
        return sorted(m["X-Helpcenter-Reference"] for m in self.messages if m["To"] == to)


class WebhookReceiver:
    """A real HTTP server on a fixed loopback port; ``fail_next`` answers 503 that many times."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/helpcenter"
        self.accepted: list[tuple[dict, bytes]] = []
        self.refused = 0
        self.fail_next = 0
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> "WebhookReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                        receiver.refused += 1
                        code = 503
                    else:
                        receiver.accepted.append((dict(self.headers), body))
                        code = 204
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def refs(self) -> list[str]:
        return sorted(json.loads(body)["escalation"]["reference"] for _h, body in self.accepted)


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def webhook():
    server = WebhookReceiver().start()
    yield server
    server.stop()


def delivering_app(make_app, smtp: SmtpServer, webhook: WebhookReceiver, **overrides):
    values = dict(smtp_host="127.0.0.1", smtp_port=smtp.port, support_inbox=SUPPORT, webhook_url=webhook.url,
                  webhook_secret="s3cret", outbox_worker=0, outbox_backoff_seconds=0.05, outbox_poll_seconds=0.05)
    values.update(overrides)
    return make_app(**values)


def submit(client, n: int, **overrides) -> list[str]:
    refs = []
    for i in range(n):
        r = client.post("/contact", data=contact_form(client, subject=f"收不到验证码 {i}", **overrides))
        assert r.status_code == 302, r.get_data(as_text=True)
        refs.append(r.headers["Location"].rsplit("/", 1)[1])
    return refs


def drain(outbox: Outbox, storage: Storage, timeout: float = 20.0) -> None:
    """Passes until nothing is pending (retries are due after the short test backoff)."""
    deadline = time.monotonic() + timeout
    while True:
        outbox.run_once()
        counts = storage.outbox_counts()
        if not counts.get("pending") and not counts.get("sending"):
            return
        assert time.monotonic() < deadline, f"outbox not drained: {counts}"
        time.sleep(0.05)


def assert_each_delivered_once(refs: list[str], smtp: SmtpServer, webhook: WebhookReceiver,
                               storage: Storage) -> None:
    refs = sorted(refs)
    assert smtp.refs(SUPPORT) == refs
    assert smtp.refs("user@example.com") == refs
    assert webhook.refs() == refs
    rows = storage.outbox_messages()
    assert len(rows) == 3 * len(refs)
    assert {r.status for r in rows} == {"delivered"} and all(r.delivered_at for r in rows)


def test_notifications_survive_smtp_and_webhook_outages(make_app, smtp, webhook, database_url):  # noqa: F811
    app = delivering_app(make_app, smtp, webhook, database_url=database_url)
    storage: Storage = app.extensions["hc_storage"]
    outbox = Outbox(storage, app.extensions["hc_settings"])
    client = app.test_client()

    # All up: every notification goes out in one pass.
    refs = submit(client, 2)
    report = outbox.run_once()
    assert len(report.delivered) == 6 and not report.retrying
    assert_each_delivered_once(refs, smtp, webhook, storage)

    # Both receivers down: the requests are stored, their notifications wait and are retried.
    smtp.stop()
    webhook.stop()
    down = submit(client, 3)
    assert all(storage.get_escalation(r) for r in down)
    report = outbox.run_once()
    assert len(report.retrying) == 9 and not report.delivered
    time.sleep(0.2)
    outbox.run_once()
    pending = storage.outbox_messages(status="pending")
    assert len(pending) == 9 and all(r.attempts == 2 and r.last_error for r in pending)
    assert any("Connection refused" in r.last_error or "Errno 111" in r.last_error for r in pending)

    # Back, the webhook still failing its first answers (503): retried until it takes them.
    smtp.start()
    webhook.start()
    webhook.fail_next = 4
    time.sleep(0.5)
    drain(outbox, storage)
    assert webhook.refused == 4
    assert_each_delivered_once(refs + down, smtp, webhook, storage)

    # Nothing is ever sent twice, even by more passes; identities let receivers drop repeats.
    outbox.run_once()
    assert_each_delivered_once(refs + down, smtp, webhook, storage)
    headers, body = webhook.accepted[0]
    assert headers["Idempotency-Key"] == json.loads(body)["delivery"]
    assert headers["X-Helpcenter-Signature"] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert json.loads(body)["escalation"]["subject"].startswith("收不到验证码")
    support_mail = next(m for m in smtp.messages if m["To"] == SUPPORT)
    assert support_mail["Reply-To"] == "user@example.com"
    assert support_mail["Message-ID"] == f"<{support_mail['X-Helpcenter-Reference']}.support_email@localhost>"


def test_background_workers_on_several_nodes_deliver_exactly_once(make_app, smtp, webhook,
                                                                  database_url):  # noqa: F811
    # The app's own thread plus two more workers with their own connections (other nodes).
    app = delivering_app(make_app, smtp, webhook, database_url=database_url, outbox_worker=1)
    settings = app.extensions["hc_settings"]
    nodes = [Outbox(Storage(database_url), settings).start() for _ in range(2)]
    storage: Storage = app.extensions["hc_storage"]
    try:
        client = app.test_client()
        refs = submit(client, 3)
        smtp.stop()
        webhook.stop()
        refs += submit(client, 4)
        time.sleep(0.3)
        smtp.start()
        webhook.start()
        refs += submit(client, 3)
        deadline = time.monotonic() + 30
        while storage.outbox_counts() != {"delivered": 30}:
            assert time.monotonic() < deadline, storage.outbox_counts()
            time.sleep(0.05)
    finally:
        for node in nodes:
            node.stop()
        app.extensions["hc_outbox"].stop()
    time.sleep(0.2)
    assert_each_delivered_once(refs, smtp, webhook, storage)
    assert max(r.attempts for r in storage.outbox_messages()) >= 2  # the outage did cause retries
    for node in nodes:
        node.storage.engine.dispose()


def test_gives_up_after_the_last_attempt_and_can_be_queued_again(make_app, webhook, tmp_path):
    dead_url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    app = make_app(webhook_url=dead_url, outbox_worker=0, outbox_backoff_seconds=0.05, outbox_max_attempts=3)
    storage: Storage = app.extensions["hc_storage"]
    outbox = Outbox(storage, app.extensions["hc_settings"])
    (ref,) = submit(app.test_client(), 1)
    drain(outbox, storage)
    (row,) = storage.outbox_messages()
    assert row.status == "failed" and row.attempts == 3 and row.reference == ref
    assert "refused" in row.last_error.lower()
    assert app.test_client().get("/healthz").get_json()["outbox"] == {"failed": 1}

    # Visible from the command line; --retry-failed queues it again (here to a live receiver).
    env = {"HELPCENTER_INSTANCE_DIR": str(tmp_path / "instance"), "HELPCENTER_WEBHOOK_URL": webhook.url,
           "HELPCENTER_SPOOL_DIR": str(tmp_path / "spool")}
    result = CliRunner().invoke(main, ["deliver", "--once"], env=env)
    assert result.exit_code == 0, result.output
    assert f"failed: {ref} webhook after 3 attempt(s)" in result.output
    result = CliRunner().invoke(main, ["deliver", "--once", "--retry-failed"], env=env)
    assert result.exit_code == 0, result.output
    assert "queued 1 failed notification(s) again" in result.output and "1 delivered" in result.output
    assert webhook.refs() == [ref]
    assert storage.outbox_counts() == {"delivered": 1}


def test_requests_made_while_the_database_is_down_are_spooled_then_replayed(make_app, smtp, webhook, tmp_path):
    db_dir, away = tmp_path / "db", tmp_path / "db-away"
    db_dir.mkdir()
    spool = tmp_path / "spool"
    app = delivering_app(make_app, smtp, webhook, database_url=f"sqlite:///{db_dir}/hc.db", spool_dir=str(spool))
    storage: Storage = app.extensions["hc_storage"]
    outbox = Outbox(storage, app.extensions["hc_settings"])
    client = app.test_client()
    stored_before = submit(client, 1)

    # The database goes away (its folder disappears; pooled connections are dropped).
    db_dir.rename(away)
    storage.engine.dispose()
    queued = submit(client, 2)
    page = client.get(f"/contact/done/{queued[-1]}").get_data(as_text=True)
    assert queued[-1] in page and "已排队" in page
    data = contact_form(client, subject="截图里的报错")
    data["screenshots"] = [(io.BytesIO(png_bytes()), "报错.png")]
    r = client.post("/contact", data=data, content_type="multipart/form-data")
    queued.append(r.headers["Location"].rsplit("/", 1)[1])
    api_client = app.test_client()
    r = api_client.post("/api/escalations", headers={"X-CSRFToken": csrf_from(api_client)},
                        json={"subject": "接口提交", "category": "account", "phone": "13800000000",
                              "description": "数据库停机时通过接口提交的请求。"})
    assert r.status_code == 202 and r.get_json()["queued"] is True
    queued.append(r.get_json()["reference"])
    assert all(REF_RE.fullmatch(ref) for ref in queued) and len(set(queued)) == 4
    assert sorted(p.stem for p in spooled_files(spool)) == sorted(queued)
    assert all(oct(p.stat().st_mode)[-3:] == "600" for p in spooled_files(spool))
    shot = json.loads((spool / f"{queued[2]}.json").read_text("utf-8"))["attachments"][0]
    assert (app.extensions["hc_upload_dir"] / shot["stored_name"]).read_bytes() == png_bytes()

    # Still down: a pass keeps everything spooled.
    with pytest.raises(StorageUnavailable):
        outbox.run_once()
    assert len(spooled_files(spool)) == 4
    assert client.get("/healthz").get_json()["spooled"] == 4

    # Back: stored under the references people were given, then notified, exactly once.
    away.rename(db_dir)
    keep = (spool / f"{queued[0]}.json").read_bytes()
    report = outbox.run_once()
    assert sorted(report.replay.replayed) == sorted(queued)
    assert spooled_files(spool) == []
    drain(outbox, storage)
    for ref in queued:
        esc = storage.get_escalation(ref)
        assert esc is not None and esc.status == "new"
    assert storage.get_escalation(queued[2]).attachments[0].original_name == "报错.png"
    assert storage.get_escalation(queued[3]).phone == "13800000000"
    with_email = stored_before + queued[:3]
    assert smtp.refs("user@example.com") == sorted(with_email)  # the API request left no e-mail
    assert smtp.refs(SUPPORT) == sorted(stored_before + queued)
    assert webhook.refs() == sorted(stored_before + queued)

    # The confirmation page now shows the stored request.
    page = client.get(f"/contact/done/{queued[2]}").get_data(as_text=True)
    assert queued[2] in page and "已排队" not in page

    # A replay that crashed after its commit but before deleting the file is harmless.
    (spool / f"{queued[0]}.json").write_bytes(keep)
    report = replay_spool(storage, app.extensions["hc_settings"], spool)
    assert report.already_stored == [queued[0]] and spooled_files(spool) == []
    with storage.session() as s:
        assert s.scalar(select(func.count()).select_from(Escalation)) == 5
    outbox.run_once()
    assert len(smtp.messages) == 2 * 4 + 1 and len(webhook.accepted) == 5


def test_many_concurrent_submissions_during_an_outage_are_all_kept(make_app, tmp_path):
    spool = tmp_path / "spool"
    app = make_app(database_url=f"sqlite:///{tmp_path}/missing/hc.db", spool_dir=str(spool), outbox_worker=0)
    refs: list[str] = []

    def visitor() -> None:
        client = app.test_client()
        token = csrf_from(client)
        for i in range(5):
            r = client.post("/api/escalations", headers={"X-CSRFToken": token},
                            json={"subject": f"并发 {i}", "category": "account", "email": "a@example.com",
                                  "description": "数据库停机时并发提交的请求。"})
            assert r.status_code == 202
            refs.append(r.get_json()["reference"])

    threads = [threading.Thread(target=visitor) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(refs) == 20 and len(set(refs)) == 20
    assert sorted(p.stem for p in spooled_files(spool)) == sorted(refs)

    # The database appears (it was never reachable, not even at start-up): tables are created.
    (tmp_path / "missing").mkdir()
    report = replay_spool(app.extensions["hc_storage"], app.extensions["hc_settings"], spool)
    assert sorted(report.replayed) == sorted(refs) and spooled_files(spool) == []
    assert all(app.extensions["hc_storage"].get_escalation(r) for r in refs)


def test_a_reference_taken_meanwhile_gets_a_new_one_and_nothing_is_lost(tmp_path, settings):
    storage = Storage(f"sqlite:///{tmp_path}/hc.db")
    storage.create_all()
    spool = tmp_path / "spool"
    fields = {"name": None, "email": "a@example.com", "phone": None, "category": "account",
              "subject": "排队的请求", "description": "数据库停机时排队的请求。", "device": None, "order_number": None}
    ref, _created = write_spool(spool, fields, {"query": "验证码"}, [NewAttachment("b" * 32 + ".png", "x.png",
                                                                                  "image/png", 10)])
    storage.add_escalation(dict(fields, subject="另一个请求"), {}, [], reference=ref)
    report = replay_spool(storage, settings, spool)
    new_ref = report.renamed[ref]
    esc = storage.get_escalation(new_ref)
    assert esc.subject == "排队的请求" and esc.as_json()["context"]["spooled_reference"] == ref
    assert spooled_files(spool) == []


def test_an_unreadable_spool_file_is_set_aside_not_deleted(tmp_path, settings):
    storage = Storage(f"sqlite:///{tmp_path}/hc.db")
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "HC-20261121-0000.json").write_text("{half a reque", "utf-8")
    report = replay_spool(storage, settings, spool)
    assert report.unreadable == ["HC-20261121-0000.json"]
    assert (spool / "unreadable" / "HC-20261121-0000.json").read_text("utf-8") == "{half a reque"


def test_deliver_command_says_when_the_database_is_down(tmp_path, settings):
    spool = tmp_path / "spool"
    write_spool(spool, {"name": None, "email": None, "phone": "13800000000", "category": "other",
                        "subject": "排队", "description": "数据库停机时排队的请求。", "device": None,
                        "order_number": None}, {}, [])
    env = {"HELPCENTER_DATABASE_URL": f"sqlite:///{tmp_path}/missing/hc.db", "HELPCENTER_SPOOL_DIR": str(spool)}
    result = CliRunner().invoke(main, ["deliver", "--once"], env=env)
    assert result.exit_code == 1
    assert "database unavailable (1 request(s) stay spooled)" in result.output
    (tmp_path / "missing").mkdir()
    result = CliRunner().invoke(main, ["deliver", "--once"], env=env)
    assert result.exit_code == 0 and "spool: 1 stored" in result.output
    shutil.rmtree(tmp_path / "missing")


def test_an_unreachable_postgres_spools_and_the_replay_goes_to_postgres(make_app, tmp_path, postgres_url):
    from sqlalchemy.engine import make_url

    dead = make_url(postgres_url).set(port=free_port()).render_as_string(hide_password=False)
    spool = tmp_path / "spool"
    app = make_app(database_url=dead, spool_dir=str(spool), outbox_worker=0)
    client = app.test_client()
    r = client.post("/contact", data=contact_form(client))
    ref = r.headers["Location"].rsplit("/", 1)[1]
    assert "已排队" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert [p.stem for p in spooled_files(spool)] == [ref]

    live = Storage(postgres_url)
    report = replay_spool(live, app.extensions["hc_settings"], spool)
    assert report.replayed == [ref] and spooled_files(spool) == []
    assert live.get_escalation(ref).subject == "收不到验证码"
    live.engine.dispose()


def test_a_message_that_cannot_be_built_fails_at_once_and_the_rest_is_delivered(make_app, smtp, webhook):
    """Rows stored before single-line fields were checked: a subject with CR/LF still reaches
    support on one line; an address with CR/LF can never be sent, so it is failed, not retried."""
    app = delivering_app(make_app, smtp, webhook, outbox_max_attempts=12)
    storage: Storage = app.extensions["hc_storage"]
    from helpcenter.support.delivery import planned_deliveries

    settings = app.extensions["hc_settings"]
    fields = {"category": "other", "subject": "收不到验证码\r\nBcc: evil@example.com", "description": "旧数据" * 5,
              "email": "user@example.com\r\nBcc: evil@example.com"}
    esc = storage.add_escalation(fields, {}, [], outbox=planned_deliveries(settings, fields))
    outbox = Outbox(storage, settings)
    report = outbox.run_once()
    assert report.failed == [f"{esc.reference}/confirmation_email"] and not report.retrying
    rows = {r.channel: r for r in storage.outbox_messages()}
    assert rows["confirmation_email"].status == "failed" and rows["confirmation_email"].attempts == 1
    assert "cannot be built" in rows["confirmation_email"].last_error
    assert rows["support_email"].status == "delivered" and rows["webhook"].status == "delivered"
    (mail,) = smtp.messages
    from email.header import decode_header, make_header

    assert str(make_header(decode_header(mail["Subject"]))).endswith("收不到验证码 Bcc: evil@example.com")
    assert mail["Bcc"] is None
    assert mail["Reply-To"] is None  # an address that cannot be used is left out, not sent broken
    assert app.test_client().get("/healthz").get_json()["outbox"]["failed"] == 1


def _body(mail) -> str:
    part = mail.get_payload(0) if mail.is_multipart() else mail
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def test_replies_are_emailed_with_the_status_link_and_a_failed_one_stays_visible(make_app, smtp, webhook):
    from helpcenter.support import statuslink, tickets

    app = delivering_app(make_app, smtp, webhook, webhook_url="", support_inbox="", public_url="https://help.example.com/")
    storage: Storage = app.extensions["hc_storage"]
    settings = app.extensions["hc_settings"]
    client = app.test_client()
    (ref,) = submit(client, 1)
    agent = tickets.Actor("agent@example.com")
    tickets.reply(storage, ref, agent, "请在登录页点“找回密码”，按提示操作。", email=True)
    outbox = Outbox(storage, settings, secret=app.config["SECRET_KEY"])
    drain(outbox, storage)
    confirmation, reply = sorted(smtp.messages, key=lambda m: m["Message-ID"])
    assert reply["To"] == "user@example.com" and reply["X-Helpcenter-Reference"] == ref
    assert reply["References"] == confirmation["Message-ID"]  # one thread in the requester's mailbox
    text = _body(reply)
    assert "请在登录页点“找回密码”，按提示操作。" in text
    links = [w for w in text.split() if w.startswith("https://help.example.com/requests/")]
    assert links and links[0] in _body(confirmation)  # both carry the same working link
    token = links[0].rsplit("/", 1)[1]
    reference, nonce = statuslink.read_token(app.config["SECRET_KEY"], token, settings.status_link_days)
    assert reference == ref and statuslink.nonce_matches(storage.get_escalation(ref).status_nonce, nonce)

    # The mail server is gone for good when the next reply goes out.
    event_id = tickets.reply(storage, ref, agent, "第二条回复", email=True)
    smtp.stop()
    report = Outbox(storage, dataclasses.replace(settings, outbox_max_attempts=1),
                    secret=app.config["SECRET_KEY"]).run_once()
    assert report.failed == [f"{ref}/reply:{event_id}"]
    [row] = [r for r in storage.outbox_messages(ref) if r.channel == f"reply:{event_id}"]
    assert row.status == "failed" and row.last_error  # kept, with why, for the agent to see


def test_without_a_public_address_emails_carry_no_link(make_app, smtp, webhook):
    app = delivering_app(make_app, smtp, webhook, webhook_url="", support_inbox="")
    storage: Storage = app.extensions["hc_storage"]
    (ref,) = submit(app.test_client(), 1)
    drain(Outbox(storage, app.extensions["hc_settings"], secret=app.config["SECRET_KEY"]), storage)
    (mail,) = smtp.messages
    assert "/requests/" not in _body(mail) and ref in _body(mail)
