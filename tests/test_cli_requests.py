"""`helpcenter requests list|show|export|resolutions|close-solved` on SQLite and a real PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from helpcenter.cli import main
from helpcenter.db import utcnow
from helpcenter.support.storage import NewAttachment, Storage

from .databases import database_url  # noqa: F401  (fixture: sqlite and postgresql)
from .test_inbox import set_status

ZONE = ZoneInfo("Asia/Shanghai")  # the default support time zone
NOW = utcnow()


@pytest.fixture
def site(database_url, tmp_path):  # noqa: F811
    """A database with three requests (two new, one solved) and the environment pointing at it."""
    store = Storage(database_url)
    store.create_all()

    def add(ref, days_ago, subject, category="account", **extra):
        fields = {"name": "小王", "email": "wang@example.com", "category": category, "subject": subject,
                  "description": "重置密码时一直收不到短信验证码，已经试过三次了。\n第二行。", **extra}
        return store.add_escalation(fields, {}, [], reference=ref,
                                    created_at=NOW - dt.timedelta(days=days_ago))

    add("HC-20261101-000A", 10, "发票怎么开", category="orders", phone="13800138000", email=None)
    add("HC-20261102-000B", 3, "=HYPERLINK(\"http://evil\")")
    store.add_escalation({"name": "小李", "email": "li@example.com", "category": "account",
                          "subject": "收不到验证码" * 20, "description": "一直收不到短信。", "device": "iPhone 15"},
                         {"visit": "v123", "query": "验证码收不到", "shown": ["account/forgot-password"],
                          "read": ["account/forgot-password"], "unhelpful": ["account/forgot-password"]},
                         [NewAttachment("c" * 32 + ".png", "截图.png", "image/png", 250_000)],
                         outbox=[("support_email", "support@example.com"), ("webhook", "http://x/hook")],
                         reference="HC-20261103-000C", created_at=NOW - dt.timedelta(hours=1))
    set_status(store, "HC-20261101-000A", "solved")
    store.engine.dispose()
    env = {"HELPCENTER_DATABASE_URL": database_url, "HELPCENTER_INSTANCE_DIR": str(tmp_path / "instance")}
    return env


def run(env, *args):
    return CliRunner().invoke(main, ["requests", *args], env=env)


def day(days_ago: float) -> str:
    return (NOW - dt.timedelta(days=days_ago)).astimezone(ZONE).date().isoformat()


def test_list_shows_newest_first_with_contact_and_counts(site):
    res = run(site, "list")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    rows = [line for line in lines if line.startswith("HC-")]
    assert [r.split()[0] for r in rows] == ["HC-20261103-000C", "HC-20261102-000B", "HC-20261101-000A"]
    created = (NOW - dt.timedelta(hours=1)).astimezone(ZONE).strftime("%Y-%m-%d %H:%M")
    assert created in rows[0] and "li@example.com" in rows[0] and "收不到验证码" in rows[0]
    assert "13800138000" in rows[2] and "solved" in rows[2]
    assert all(len(r) < 200 for r in rows)  # the long subject is cut to fit
    assert "new 2" in res.output and "solved 1" in res.output


def test_list_filters_and_json(site):
    res = run(site, "list", "--status", "new", "--since", day(5), "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [r["reference"] for r in data["requests"]] == ["HC-20261103-000C", "HC-20261102-000B"]
    assert data["total"] == 2 and data["requests"][0]["context"]["query"] == "验证码收不到"
    orders = json.loads(run(site, "list", "--category", "orders", "--json").output)
    assert [r["reference"] for r in orders["requests"]] == ["HC-20261101-000A"]
    page = run(site, "list", "--limit", "1")
    assert "HC-20261103-000C" in page.output and "HC-20261102-000B" not in page.output
    assert "--offset 1" in page.output  # says how to see the rest


@pytest.mark.parametrize("args, words", [
    (["--since", "2026-13-01"], "2026-13-01"),
    (["--since", "0001-01-01"], "0001-01-01"),
    (["--status", "nwe"], "nwe"),
])
def test_list_refuses_bad_options_with_a_usage_error(site, args, words):
    res = run(site, "list", *args)
    assert res.exit_code == 2 and words in res.output


def test_show_prints_every_field_the_visit_context_files_and_deliveries(site):
    res = run(site, "show", "hc-20261103-000c")
    assert res.exit_code == 0, res.output
    out = res.output
    for text in ("HC-20261103-000C", "小李", "li@example.com", "iPhone 15", "一直收不到短信。",
                 "验证码收不到", "account/forgot-password", "v123", "截图.png", "244 KB",
                 "support_email", "support@example.com", "webhook", "pending"):
        assert text in out, text
    assert "unhelpful" in out and "read" in out
    data = json.loads(run(site, "show", "HC-20261103-000C", "--json").output)
    assert data["context"]["unhelpful"] == ["account/forgot-password"]
    assert [d["channel"] for d in data["deliveries"]] == ["support_email", "webhook"]


def test_show_unknown_reference_is_an_error(site):
    res = run(site, "show", "HC-20000101-ZZZZ")
    assert res.exit_code == 1 and "HC-20000101-ZZZZ" in res.output and "no request" in res.output


def test_export_csv_keeps_chinese_for_spreadsheets(site, tmp_path):
    out = tmp_path / "requests.csv"
    res = run(site, "export", "--since", day(5), "--out", str(out))
    assert res.exit_code == 0, res.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel and WPS read the Chinese correctly
    assert out.stat().st_mode & 0o777 == 0o600  # personal data: owner-only, like the privacy export
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [r["reference"] for r in rows] == ["HC-20261102-000B", "HC-20261103-000C"]  # oldest first
    newest = rows[1]
    assert newest["subject"] == "收不到验证码" * 20 and newest["query"] == "验证码收不到"
    assert newest["unhelpful"] == "account/forgot-password" and newest["attachments"] == "截图.png"
    assert newest["description"] == "一直收不到短信。"
    assert rows[0]["subject"].startswith("'=")  # a formula typed into the form is not run by the spreadsheet
    assert "2 requests" in res.output


def test_export_json_and_period(site):
    res = run(site, "export", "--since", day(20), "--until", day(5), "--format", "json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [r["reference"] for r in data] == ["HC-20261101-000A"]
    assert data[0]["subject"] == "发票怎么开" and data[0]["status"] == "solved"
    backwards = run(site, "export", "--since", day(1), "--until", day(5))
    assert backwards.exit_code == 2 and "--until" in backwards.output
    assert run(site, "export").exit_code == 2  # --since is required


def test_requests_refuse_a_missing_database(tmp_path):
    env = {"HELPCENTER_INSTANCE_DIR": str(tmp_path / "nowhere"), "HELPCENTER_DATABASE_URL": ""}
    res = run(env, "list")
    assert res.exit_code == 1 and "no database at" in res.output
    assert not (tmp_path / "nowhere" / "helpcenter.db").exists()


# --- the timeline, resolutions, closing solved requests, searching -----------------------------

PASSWORD = "a long enough passphrase"


def storage_of(env) -> Storage:
    return Storage(env["HELPCENTER_DATABASE_URL"])


def agent_on(store):
    from helpcenter.support import staff, tickets

    return tickets.Actor.staff(staff.add_staff(store, "agent@example.com", "agent", PASSWORD))


def test_show_prints_the_timeline_with_notes_marked_internal(site):
    from helpcenter.support import tickets

    store = storage_of(site)
    agent = agent_on(store)
    ref = "HC-20261103-000C"
    tickets.add_note(store, ref, agent, "先核实手机号\n再冻结账号")
    tickets.reply(store, ref, agent, "请问绑定的手机号是多少？")
    tickets.requester_message(store, ref, "138 开头那个", [NewAttachment("d" * 32 + ".png", "报错.png",
                                                                          "image/png", 2048)])
    tickets.assign(store, ref, agent, agent.staff_id)
    tickets.solve(store, ref, agent, no_article_note="没有讲换绑手机号的文章")
    store.engine.dispose()

    res = run(site, "show", ref)
    assert res.exit_code == 0, res.output
    timeline = res.output.split("timeline (", 1)[1]
    assert timeline.startswith("9):")
    lines = [line.strip() for line in timeline.splitlines()]
    expected = ["agent@example.com: internal note", "先核实手机号", "再冻结账号",
                "agent@example.com: status new → open",
                "agent@example.com: reply (shown to the requester)", "请问绑定的手机号是多少？",
                "agent@example.com: status open → pending",
                "requester: message from the requester", "138 开头那个",
                "screenshot: 报错.png  image/png  2 KB  (stored as " + "d" * 32 + ".png)",
                "requester: status pending → open", "agent@example.com: assigned to agent@example.com",
                "agent@example.com: solved: no article covers this", "没有讲换绑手机号的文章",
                "agent@example.com: status open → solved"]
    found = [next(i for i, line in enumerate(lines) if line.endswith(text)) for text in expected]
    assert found == sorted(found), found  # every entry, oldest first
    data = json.loads(run(site, "show", ref, "--json").output)
    assert [e["kind"] for e in data["events"]][:2] == ["note", "status"]


def solve_two(site):
    """HC-…000B answered with an article 10 days ago; HC-…000C solved as a gap just now."""
    from sqlalchemy import update

    from helpcenter.db import Escalation
    from helpcenter.support import tickets

    store = storage_of(site)
    agent = agent_on(store)
    tickets.solve(store, "HC-20261102-000B", agent, article="account/forgot-password")
    tickets.solve(store, "HC-20261103-000C", agent, no_article_note="没有讲\n验证码一直收不到的情况")
    with store.session() as s, s.begin():
        s.execute(update(Escalation).where(Escalation.reference == "HC-20261102-000B")
                  .values(solved_at=NOW - dt.timedelta(days=10)))
    store.engine.dispose()


def test_resolutions_list_the_learning_data_oldest_first(site):
    solve_two(site)
    res = run(site, "resolutions")
    assert res.exit_code == 0, res.output
    rows = [line for line in res.output.splitlines() if line.startswith("HC-")]
    assert [r.split()[0] for r in rows] == ["HC-20261102-000B", "HC-20261103-000C"]
    assert "article account/forgot-password" in rows[0]
    assert "no article: 没有讲 验证码一直收不到的情况" in rows[1] and "验证码收不到" in rows[1]  # the query
    assert "2 solved: 1 with an article, 1 with no article" in res.output

    data = json.loads(run(site, "resolutions", "--json").output)
    assert [(r["reference"], r["resolution"]) for r in data] == [("HC-20261102-000B", "article"),
                                                                 ("HC-20261103-000C", "no_article")]
    gap = data[1]
    assert (gap["query"], gap["note"], gap["unhelpful"]) == ("验证码收不到", "没有讲\n验证码一直收不到的情况",
                                                             ["account/forgot-password"])
    recent = json.loads(run(site, "resolutions", "--since", day(5), "--json").output)
    assert [r["reference"] for r in recent] == ["HC-20261103-000C"]
    none = run(site, "resolutions", "--since", day(-2))
    assert none.exit_code == 0 and "no solved requests since" in none.output
    assert run(site, "resolutions", "--since", "2026-02-30").exit_code == 2


def test_close_solved_closes_what_can_no_longer_be_reopened(site):
    solve_two(site)  # one solved 10 days ago, one just now; HC-…000A is "solved" with no time
    res = run(site, "close-solved")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == ["HC-20261102-000B", "closed 1 request(s) solved more than 7 day(s) ago"]
    listed = json.loads(run(site, "list", "--json").output)
    assert {r["reference"]: r["status"] for r in listed["requests"]} == {
        "HC-20261101-000A": "solved", "HC-20261102-000B": "closed", "HC-20261103-000C": "solved"}
    again = run(site, "close-solved")
    assert again.output.splitlines() == ["closed 0 request(s) solved more than 7 day(s) ago"]
    longer = run({**site, "HELPCENTER_SOLVED_CLOSE_DAYS": "0"}, "close-solved")
    assert longer.exit_code == 0 and "never close by themselves" in longer.output
    shorter = run({**site, "HELPCENTER_SOLVED_CLOSE_DAYS": "1"}, "close-solved")
    assert shorter.output.splitlines()[-1] == "closed 0 request(s) solved more than 1 day(s) ago"


def test_list_search_finds_words_and_typed_contacts_and_counts_what_it_finds(site):
    env = {**site, "HELPCENTER_USER_DICT": ""}
    invoice = json.loads(run(env, "list", "--search", "发票", "--json").output)
    assert [r["reference"] for r in invoice["requests"]] == ["HC-20261101-000A"]
    assert invoice["total"] == 1 and invoice["counts"] == {"solved": 1}
    sms = run(env, "list", "--search", "短信验证码收不到")
    assert sms.exit_code == 0, sms.output
    assert [line.split()[0] for line in sms.output.splitlines() if line.startswith("HC-")] == [
        "HC-20261103-000C", "HC-20261102-000B", "HC-20261101-000A"]
    assert [r["reference"] for r in json.loads(run(env, "list", "--search", "LI@example.com", "--json")
                                               .output)["requests"]] == ["HC-20261103-000C"]
    assert [r["reference"] for r in json.loads(run(env, "list", "--search", "138-0013-8000", "--json")
                                               .output)["requests"]] == ["HC-20261101-000A"]
    nothing = run(env, "list", "--search", "注销账号")
    assert nothing.exit_code == 0 and "no requests match" in nothing.output
    both = json.loads(run(env, "list", "--search", "验证码", "--status", "new", "--json").output)
    assert both["total"] == 2  # with the other filters
