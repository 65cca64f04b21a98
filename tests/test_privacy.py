"""Personal data: export, delete and retention purge (library, CLI and the web app's start-up purge)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import stat
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from helpcenter.cli import main
from helpcenter.db import Attachment, Escalation, SearchClick, SearchLog
from helpcenter.support.privacy import delete_person, export_person, purge_expired

from .databases import database_url  # noqa: F401  (fixture: sqlite and postgresql)
from .test_web import contact_form, png_bytes


@pytest.fixture
def app(make_app, database_url):  # noqa: F811
    return make_app(database_url=database_url)


def escalate(app, *, search: str | None = None, screenshot: bytes | None = None, **fields) -> str:
    """One visitor: optionally searches (and clicks the first result), then submits the contact form."""
    client = app.test_client()
    if search:
        html = client.get(f"/search?q={search}").get_data(as_text=True)
        link = html.split('class="result-title" href="', 1)[1].split('"', 1)[0]
        client.get(link, follow_redirects=True)
    data = contact_form(client, **fields)
    if screenshot is not None:
        data["screenshots"] = [(io.BytesIO(screenshot), "屏幕截图.png")]
    r = client.post("/contact", data=data, content_type="multipart/form-data")
    assert r.status_code == 302, r.get_data(as_text=True)
    writer = app.extensions.get("hc_search_log")
    assert writer is None or writer.flush()  # search rows are written in the background
    return r.headers["Location"].rsplit("/", 1)[1]


@pytest.fixture
def people(app):
    """Alice: two requests (one by phone only, one with a screenshot) after a search; Bob: one, with a screenshot."""
    alice_png, bob_png = png_bytes((30, 10)), png_bytes((10, 30))
    refs = {
        "alice_mail": escalate(app, search="收不到验证码", screenshot=alice_png, email="Alice.Wang@Example.COM",
                               name="王丽", device="iPhone 15", order_number="A-1001"),
        "alice_phone": escalate(app, email="", phone="+86 138-0000 1111", subject="还是收不到"),
        "bob": escalate(app, search="物流一直不更新", screenshot=bob_png, email="bob@example.net",
                        phone="13900002222", name="张伟"),
    }
    return refs, alice_png, bob_png


def db(app):
    return app.extensions["hc_storage"]


def all_escalations(app):
    with db(app).session() as s:
        return {e.reference: e for e in s.scalars(select(Escalation))}


def stored_files(app):
    return {p.name for p in app.extensions["hc_upload_dir"].iterdir()}


def cli(app, args, **kw):
    env = {"HELPCENTER_INSTANCE_DIR": app.instance_path, "HELPCENTER_MODEL": "hash", "HELPCENTER_USER_DICT": "",
           "HELPCENTER_DATABASE_URL": app.extensions["hc_settings"].database_url}
    env.update(kw.pop("env", {}))
    return CliRunner().invoke(main, args, env=env, **kw)


def test_export_returns_exactly_that_persons_data_and_files(app, people):
    refs, alice_png, _bob_png = people
    data = export_person(db(app), app.extensions["hc_upload_dir"], email="  ALICE.wang@example.com ")
    assert [e["reference"] for e in data["escalations"]] == [refs["alice_mail"]]
    esc = data["escalations"][0]
    assert (esc["email"], esc["name"], esc["device"], esc["order_number"]) == (
        "alice.wang@example.com", "王丽", "iPhone 15", "A-1001")
    assert esc["context"]["query"] == "收不到验证码"
    [att] = esc["attachments"]
    assert att["original_name"] == "屏幕截图.png" and att["content_type"] == "image/png"
    assert base64.b64decode(att["content_base64"]) == alice_png
    assert att["sha256"] == hashlib.sha256(alice_png).hexdigest()
    # The searches of her visit (linked through the escalation context), with the click.
    assert [(s["query"], len(s["clicks"])) for s in data["searches"]] == [("收不到验证码", 1)]
    dump = json.dumps(data, ensure_ascii=False)
    assert "bob" not in dump and "张伟" not in dump and "物流" not in dump and refs["bob"] not in dump

    by_phone = export_person(db(app), app.extensions["hc_upload_dir"], phone="+86 138 0000-1111")
    assert [e["reference"] for e in by_phone["escalations"]] == [refs["alice_phone"]]
    assert by_phone["searches"] == []
    both = export_person(db(app), app.extensions["hc_upload_dir"], email="alice.wang@example.com",
                         phone="+8613800001111")
    assert {e["reference"] for e in both["escalations"]} == {refs["alice_mail"], refs["alice_phone"]}
    nobody = export_person(db(app), app.extensions["hc_upload_dir"], email="carol@example.org")
    assert nobody["escalations"] == [] and nobody["searches"] == []
    with pytest.raises(ValueError):
        export_person(db(app), app.extensions["hc_upload_dir"], email=" ", phone="")


def test_export_cli_copies_files_with_out(app, people, tmp_path):
    refs, alice_png, _ = people
    out = tmp_path / "export"
    r = cli(app, ["privacy", "export", "--email", "alice.wang@example.com", "--out", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    [att] = data["escalations"][0]["attachments"]
    assert "content_base64" not in att
    assert att["file"] == f"{refs['alice_mail']}/{att['stored_name']}"
    assert (out / att["file"]).read_bytes() == alice_png
    assert json.loads((out / "export.json").read_text("utf-8")) == data
    inline = cli(app, ["privacy", "export", "--phone", "13900002222"])
    assert inline.exit_code == 0
    assert base64.b64decode(json.loads(inline.stdout)["escalations"][0]["attachments"][0]["content_base64"])
    assert cli(app, ["privacy", "export"]).exit_code == 2  # --email or --phone is required


def test_delete_removes_rows_and_files_and_nothing_of_other_people(app, people):
    refs, _alice_png, bob_png = people
    before_files = stored_files(app)
    with db(app).session() as s:
        bob_visit = json.loads(s.scalar(select(Escalation.context).where(Escalation.reference == refs["bob"])))["visit"]
        alice_files = set(s.scalars(select(Attachment.stored_name).join(Escalation)
                                    .where(Escalation.reference == refs["alice_mail"])))

    refused = cli(app, ["privacy", "delete", "--email", "alice.wang@example.com", "--phone", "+86 13800001111"],
                  input="n\n")
    assert refused.exit_code == 1 and "delete all of this?" in refused.output
    assert refs["alice_mail"] in refused.output and refs["alice_phone"] in refused.output
    assert len(all_escalations(app)) == 3 and stored_files(app) == before_files  # nothing happened

    r = cli(app, ["privacy", "delete", "--email", "ALICE.WANG@example.com", "--phone", "+86 138-0000-1111", "--yes"])
    assert r.exit_code == 0, r.output
    assert "removed 2 escalation(s)" in r.output and "1 file(s), 1 search(es)" in r.output
    assert set(all_escalations(app)) == {refs["bob"]}
    assert stored_files(app) == before_files - alice_files and len(stored_files(app)) == 1
    with db(app).session() as s:
        assert s.scalar(select(func.count()).select_from(Attachment)) == 1
        assert [row.visit_id for row in s.scalars(select(SearchLog))] == [bob_visit]
        assert s.scalar(select(func.count()).select_from(SearchClick)) == 1  # Bob's click
    bob = all_escalations(app)[refs["bob"]]
    assert bob.email == "bob@example.net" and bob.name == "张伟"
    assert (app.extensions["hc_upload_dir"] / stored_files(app).pop()).read_bytes() == bob_png

    again = cli(app, ["privacy", "delete", "--email", "alice.wang@example.com", "--yes"])
    assert again.exit_code == 0 and "nothing stored for this person" in again.output


def test_delete_reports_files_that_were_already_gone(app, people):
    refs, _, _ = people
    for name in stored_files(app):
        (app.extensions["hc_upload_dir"] / name).unlink()
    removal = delete_person(db(app), app.extensions["hc_upload_dir"], phone="13900002222")
    assert removal.escalations == [refs["bob"]] and removal.files_removed == [] and len(removal.files_missing) == 1


def age(app, reference: str, days: int) -> None:
    with db(app).session() as s, s.begin():
        esc = s.scalar(select(Escalation).where(Escalation.reference == reference))
        esc.created_at = esc.created_at - dt.timedelta(days=days)


def test_purge_clears_only_old_personal_fields(app, people):
    refs, _, bob_png = people
    age(app, refs["alice_mail"], 40)
    age(app, refs["alice_phone"], 31)
    old_before = all_escalations(app)[refs["alice_mail"]]
    files_before = stored_files(app)

    done = purge_expired(db(app), app.extensions["hc_upload_dir"], 30)
    assert sorted(done.escalations) == sorted([refs["alice_mail"], refs["alice_phone"]])
    assert len(done.files_removed) == 1
    rows = all_escalations(app)
    for ref in ("alice_mail", "alice_phone"):
        esc = rows[refs[ref]]
        assert (esc.name, esc.email, esc.phone, esc.device, esc.order_number) == (None,) * 5
        assert esc.reference == refs[ref] and esc.category == "account"
    old = rows[refs["alice_mail"]]
    assert (old.subject, old.description, old.created_at) == (
        old_before.subject, old_before.description, old_before.created_at)
    ctx = json.loads(old.context)
    assert ctx["read"] and ctx["query"] == "收不到验证码" and "visit" not in ctx  # statistics stay, the link goes
    with db(app).session() as s:
        assert s.scalar(select(func.count()).select_from(Attachment)) == 1
    bob = rows[refs["bob"]]  # recent: untouched
    assert (bob.email, bob.phone, bob.name) == ("bob@example.net", "13900002222", "张伟")
    assert len(stored_files(app)) == 1 and stored_files(app) < files_before
    assert (app.extensions["hc_upload_dir"] / stored_files(app).pop()).read_bytes() == bob_png

    assert purge_expired(db(app), app.extensions["hc_upload_dir"], 30).escalations == []  # idempotent
    assert purge_expired(db(app), app.extensions["hc_upload_dir"], 0).escalations == []  # 0 keeps forever


def test_purge_cli_and_web_start_up_use_retention_days(app, make_app, people):
    refs, _, _ = people
    age(app, refs["bob"], 10)
    kept = cli(app, ["privacy", "purge"])
    assert kept.exit_code == 0 and "nothing to purge" in kept.output
    r = cli(app, ["privacy", "purge", "--json"], env={"HELPCENTER_RETENTION_DAYS": "7"})
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["escalations"] == [refs["bob"]]
    assert all_escalations(app)[refs["bob"]].email is None

    age(app, refs["alice_phone"], 100)
    restarted = make_app(retention_days=90, database_url=app.extensions["hc_settings"].database_url)
    # the site purged when it started (and will hourly)
    rows = all_escalations(restarted)
    assert rows[refs["alice_phone"]].phone is None
    assert rows[refs["alice_mail"]].email == "alice.wang@example.com"


def test_retention_setting_is_validated():
    from helpcenter.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="retention_days"):
        load_settings(env={"HELPCENTER_RETENTION_DAYS": "-1"})
    assert load_settings(env={"HELPCENTER_RETENTION_DAYS": "30"}).retention_days == 30


# --- held screenshots of abandoned forms, private exports -----------------------------------------

def held_file(app) -> Path:
    """A screenshot held for a form that came back with an error (and was then abandoned)."""
    pending = app.extensions["hc_upload_dir"] / "pending"
    before = set(pending.iterdir()) if pending.exists() else set()
    client = app.test_client()
    data = contact_form(client, email="bad")
    data["screenshots"] = [(io.BytesIO(png_bytes()), "a.png")]
    assert client.post("/contact", data=data, content_type="multipart/form-data").status_code == 400
    [new] = set(pending.iterdir()) - before
    return new


def age_file(path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def test_held_screenshots_older_than_a_day_are_removed_by_purge_and_the_site(app, make_app):
    old, fresh = held_file(app), held_file(app)
    age_file(old, 25)
    r = cli(app, ["privacy", "purge"])  # retention_days is 0: personal data is kept, abandoned files are not
    assert r.exit_code == 0, r.output
    assert not old.exists() and fresh.exists()
    assert "1" in r.output and "pending" in r.output
    age_file(fresh, 25)
    make_app(database_url=app.extensions["hc_settings"].database_url)  # the site sweeps at start, then hourly
    assert not fresh.exists()


def test_the_retention_thread_sweeps_held_screenshots_whatever_retention_days_is(app):
    from helpcenter.support.privacy import start_retention

    thread = start_retention(db(app), app.extensions["hc_upload_dir"], 0, interval=0.05)
    try:
        old = held_file(app)
        age_file(old, 25)
        for _ in range(200):
            if not old.exists():
                break
            time.sleep(0.05)
        assert not old.exists()
    finally:
        thread.stop.set()


def test_an_export_folder_and_its_files_are_private(app, people, tmp_path):
    refs, _, _ = people
    out = tmp_path / "export"
    out.mkdir(mode=0o755)
    r = cli(app, ["privacy", "export", "--email", "alice.wang@example.com", "--out", str(out)])
    assert r.exit_code == 0, r.output
    [att] = json.loads(r.stdout)["escalations"][0]["attachments"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert stat.S_IMODE((out / refs["alice_mail"]).stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "export.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / att["file"]).stat().st_mode) == 0o600
    again = cli(app, ["privacy", "export", "--email", "alice.wang@example.com", "--out", str(out)])
    assert again.exit_code == 0, again.output  # run again into the same folder: files are replaced


# --- the request timeline: replies, notes, later messages and their screenshots -------------------

AGENT_PASSWORD = "a long enough passphrase"


def agent_of(app):
    from helpcenter.support import staff, tickets

    info = staff.find_staff(db(app), "agent@example.com") or staff.add_staff(
        db(app), "agent@example.com", "agent", AGENT_PASSWORD)
    return tickets.Actor.staff(info)


def converse(app, ref: str, png: bytes, *, solve: bool = True) -> str:
    """An agent and the requester talk on ``ref``: a note, a reply, assignment, a message with a
    screenshot (stored like the status page stores one), and a resolution. Returns the file name."""
    from helpcenter.support import tickets
    from helpcenter.support.storage import NewAttachment

    agent = agent_of(app)
    name = f"{ref.lower()}-msg.png"
    (app.extensions["hc_upload_dir"] / name).write_bytes(png)
    tickets.add_note(db(app), ref, agent, "内部备注：她说手机号是 138 0000 1111")
    tickets.reply(db(app), ref, agent, "王女士您好，请在登录页点“找回密码”。")
    tickets.assign(db(app), ref, agent, agent.staff_id)
    tickets.requester_message(db(app), ref, "还是收不到，我的新号码是 139 0000 3333",
                              [NewAttachment(name, "报错.png", "image/png", len(png))])
    if solve:
        tickets.solve(db(app), ref, agent, article="account/forgot-password")
    return name


def events_of(app, ref: str):
    from helpcenter.db import RequestEvent

    with db(app).session() as s:
        esc_id = s.scalar(select(Escalation.id).where(Escalation.reference == ref))
        return list(s.scalars(select(RequestEvent).where(RequestEvent.escalation_id == esc_id)
                              .order_by(RequestEvent.id)))


def test_export_includes_the_timeline_and_the_screenshots_of_later_messages(app, people):
    refs, alice_png, _ = people
    msg_png = png_bytes((12, 12))
    name = converse(app, refs["alice_mail"], msg_png)
    data = export_person(db(app), app.extensions["hc_upload_dir"], email="alice.wang@example.com")
    [esc] = data["escalations"]
    events = esc["events"]
    assert [e["kind"] for e in events] == ["note", "status", "reply", "status", "assign", "message", "status",
                                           "solved", "status"]
    by_kind = {e["kind"]: e for e in events}
    assert by_kind["note"]["body"].startswith("内部备注") and by_kind["note"]["public"] is False
    assert by_kind["reply"]["actor"] == "agent@example.com" and by_kind["reply"]["public"] is True
    assert by_kind["message"]["body"].startswith("还是收不到") and by_kind["message"]["actor"] == "requester"
    assert by_kind["assign"]["data"] == {"to": "agent@example.com"}
    assert by_kind["solved"]["data"]["article"] == "account/forgot-password"
    assert [e["data"]["to"] for e in events if e["kind"] == "status"] == ["open", "pending", "open", "solved"]
    # Both screenshots: the form's (no event) and the message's, marked with its event, with the bytes.
    atts = {a["stored_name"]: a for a in esc["attachments"]}
    assert len(atts) == 2 and atts[name]["event_id"] == by_kind["message"]["id"]
    assert by_kind["message"]["attachments"] == [name]
    assert base64.b64decode(atts[name]["content_base64"]) == msg_png
    [form_att] = [a for a in atts.values() if a["event_id"] is None]
    assert base64.b64decode(form_att["content_base64"]) == alice_png
    assert all(e["attachments"] == [] for e in events if e["kind"] != "message")

    other = export_person(db(app), app.extensions["hc_upload_dir"], phone="13900002222")
    assert other["escalations"][0]["events"] == []  # Bob's request has no timeline of Alice's


def test_export_cli_copies_message_screenshots_with_out(app, people, tmp_path):
    refs, _, _ = people
    msg_png = png_bytes((14, 9))
    name = converse(app, refs["alice_mail"], msg_png, solve=False)
    out = tmp_path / "export"
    r = cli(app, ["privacy", "export", "--email", "alice.wang@example.com", "--out", str(out)])
    assert r.exit_code == 0, r.output
    [att] = [a for a in json.loads(r.stdout)["escalations"][0]["attachments"] if a["stored_name"] == name]
    assert (out / att["file"]).read_bytes() == msg_png and att["event_id"] is not None


def test_delete_removes_the_timeline_and_message_screenshots_from_disk(app, people):
    from helpcenter.db import OutboxMessage, RequestEvent
    from helpcenter.support import tickets

    refs, _, _ = people
    alice_file = converse(app, refs["alice_mail"], png_bytes((11, 11)))
    bob_file = converse(app, refs["bob"], png_bytes((13, 13)))
    tickets.reply(db(app), refs["alice_mail"], agent_of(app), "再发一封邮件给您", wait_for_requester=False,
                  email=True)  # ...queued for e-mail: an outbox row pointing at the event
    assert len(events_of(app, refs["alice_mail"])) > 0

    plan = cli(app, ["privacy", "delete", "--email", "alice.wang@example.com"], input="n\n")
    assert "timeline entries (replies, notes, messages, status changes): 11" in plan.output
    r = cli(app, ["privacy", "delete", "--email", "alice.wang@example.com", "--yes"])
    assert r.exit_code == 0, r.output
    assert "2 file(s)" in r.output and "11 timeline entries" in r.output
    assert not (app.extensions["hc_upload_dir"] / alice_file).exists()
    assert (app.extensions["hc_upload_dir"] / bob_file).exists()
    with db(app).session() as s:
        left = {ev.escalation_id for ev in s.scalars(select(RequestEvent))}
        bob_id = s.scalar(select(Escalation.id).where(Escalation.reference == refs["bob"]))
        assert left == {bob_id}  # Alice's events went with her request; Bob's stay
        names = set(s.scalars(select(Attachment.stored_name)))
        assert alice_file not in names and bob_file in names
        assert not [m for m in s.scalars(select(OutboxMessage)) if m.reference == refs["alice_mail"]]
    assert len(events_of(app, refs["bob"])) == 9


def test_purge_clears_the_text_of_replies_notes_and_messages_and_keeps_the_statistics(app, people):
    refs, _, _ = people
    old_file = converse(app, refs["alice_mail"], png_bytes((11, 11)))
    recent_file = converse(app, refs["bob"], png_bytes((13, 13)))
    before = [(e.kind, e.created_at, e.data, e.actor) for e in events_of(app, refs["alice_mail"])]
    age(app, refs["alice_mail"], 40)

    done = purge_expired(db(app), app.extensions["hc_upload_dir"], 30)
    assert done.escalations == [refs["alice_mail"]] and done.texts_cleared == 3
    assert old_file in done.files_removed and not (app.extensions["hc_upload_dir"] / old_file).exists()
    events = events_of(app, refs["alice_mail"])
    assert [(e.kind, e.created_at, e.data, e.actor) for e in events] == before  # statistics stay
    assert {e.kind: e.body for e in events if e.kind in ("reply", "note", "message")} == {
        "reply": None, "note": None, "message": None}
    dump = json.dumps([e.as_json() for e in events], ensure_ascii=False)
    assert "139 0000 3333" not in dump and "王女士" not in dump and "138 0000 1111" not in dump
    esc = all_escalations(app)[refs["alice_mail"]]
    assert (esc.status, esc.resolution_article) == ("solved", "account/forgot-password")
    # The recent request keeps its conversation and its message screenshot.
    assert [e.body for e in events_of(app, refs["bob"]) if e.kind == "message"] == ["还是收不到，我的新号码是 139 0000 3333"]
    assert (app.extensions["hc_upload_dir"] / recent_file).exists()

    again = purge_expired(db(app), app.extensions["hc_upload_dir"], 30)
    assert again.escalations == [] and again.texts_cleared == 0  # nothing personal is left to find


def test_purge_finds_an_old_request_whose_only_personal_data_is_its_conversation(app, people):
    from helpcenter.support import tickets

    refs, _, _ = people
    age(app, refs["alice_mail"], 40)
    assert purge_expired(db(app), app.extensions["hc_upload_dir"], 30).escalations == [refs["alice_mail"]]
    tickets.reply(db(app), refs["alice_mail"], agent_of(app), "您好，我们查到了您的订单 A-1001")
    r = cli(app, ["privacy", "purge"], env={"HELPCENTER_RETENTION_DAYS": "30"})
    assert r.exit_code == 0, r.output
    assert "cleared personal data of 1 escalation(s)" in r.output and "text of 1 reply/note/message(s)" in r.output
    assert [e.body for e in events_of(app, refs["alice_mail"]) if e.kind == "reply"] == [None]


def solved_days_ago(app, ref: str, days: float) -> None:
    from helpcenter.db import utcnow
    from helpcenter.support import tickets

    tickets.solve(db(app), ref, agent_of(app), article="account/forgot-password")
    with db(app).session() as s, s.begin():
        esc = s.scalar(select(Escalation).where(Escalation.reference == ref))
        esc.solved_at = utcnow() - dt.timedelta(days=days)


def test_a_retention_pass_closes_requests_solved_more_than_solved_close_days_ago(app, people, caplog):
    import logging

    from helpcenter.support.privacy import start_retention

    refs, _, _ = people
    solved_days_ago(app, refs["alice_mail"], 8)
    solved_days_ago(app, refs["bob"], 6)
    with caplog.at_level(logging.INFO, logger="helpcenter.support.privacy"):
        thread = start_retention(db(app), app.extensions["hc_upload_dir"], 0, solved_close_days=7, interval=3600)
    thread.stop.set()
    rows = all_escalations(app)
    assert rows[refs["alice_mail"]].status == "closed"
    assert rows[refs["bob"]].status == "solved"  # solved six days ago: the requester may still reopen it
    assert rows[refs["alice_phone"]].status == "new"
    assert "closed 1 request(s) solved more than 7 days ago" in caplog.text
    assert [e.kind for e in events_of(app, refs["alice_mail"])][-1] == "status"  # the closing is on the timeline
    assert rows[refs["alice_mail"]].email == "alice.wang@example.com"  # retention_days 0: nothing purged


def test_the_site_closes_old_solved_requests_at_start_up_per_its_setting(app, make_app, people):
    refs, _, _ = people
    solved_days_ago(app, refs["alice_mail"], 4)
    url = app.extensions["hc_settings"].database_url
    make_app(database_url=url, solved_close_days=0)  # 0: never closes by itself
    assert all_escalations(app)[refs["alice_mail"]].status == "solved"
    make_app(database_url=url, solved_close_days=5)
    assert all_escalations(app)[refs["alice_mail"]].status == "solved"
    make_app(database_url=url, solved_close_days=3)
    assert all_escalations(app)[refs["alice_mail"]].status == "closed"
