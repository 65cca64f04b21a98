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
