"""Schema migrations on SQLite and a real PostgreSQL: a 0.1.0 install keeps every row, an empty
database gets exactly the models, concurrent upgrades apply once, and refusals say what to do.

tests/fixtures/release-0.1.0.*.sql were made by running release 0.1.0's own code
(tests/fixtures/make_release_fixture.py), so they are what an existing install has.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Column, Integer, MetaData, create_engine, inspect, text
from sqlalchemy.engine import make_url

from helpcenter.cli import main
from helpcenter.db import Base
from helpcenter.support import migrate
from helpcenter.support.migrate import SchemaOutdated, SchemaTooNew, SchemaUnrecognised
from helpcenter.support.storage import Storage, StorageUnavailable

from .databases import database_url  # noqa: F401  (fixture: sqlite and postgresql)

FIXTURES = Path(__file__).parent / "fixtures"
RELEASE_TABLES = ("escalations", "attachments", "feedback", "article_views", "outbox", "search_log", "search_clicks")
# The columns of release 0.1.0's tables, as its fixtures hold them.
RELEASE_COLUMNS = {
    "escalations": ("id", "reference", "created_at", "name", "email", "phone", "category", "subject", "description",
                    "device", "order_number", "context", "status"),
    "attachments": ("id", "escalation_id", "stored_name", "original_name", "content_type", "size"),
    "feedback": ("id", "created_at", "article_id", "helpful", "comment"),
    "article_views": ("article_id", "views"),
    "outbox": ("id", "escalation_id", "reference", "channel", "target", "status", "attempts", "created_at",
               "next_attempt_at", "claimed_by", "lease_until", "delivered_at", "last_error"),
    "search_log": ("id", "key", "created_at", "visit_id", "source", "query", "results", "top_score", "top_dense",
                   "confident", "escalated", "build_id"),
    "search_clicks": ("id", "search_id", "article_id", "rank", "created_at"),
}
FIELDS = {"name": None, "email": "new@example.com", "phone": None, "category": "account", "subject": "升级之后",
          "description": "升级之后还能提交吗？", "device": None, "order_number": None}


def load_release(url: str) -> None:
    """Restore release 0.1.0's database, rows included, into the empty database at ``url``."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        with sqlite3.connect(u.database) as conn:
            conn.executescript((FIXTURES / "release-0.1.0.sqlite.sql").read_text("utf-8"))
        return
    import psycopg

    sql = (FIXTURES / "release-0.1.0.postgresql.sql").read_text("utf-8")
    with psycopg.connect(u.set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        conn.execute(sql)  # no parameters: runs the whole pg_dump script


def rows(url: str, tables=RELEASE_TABLES) -> dict[str, list[tuple]]:
    """Every row of the release's tables, in the release's columns (later migrations add columns)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for t in tables:
                columns = ", ".join(f'"{c}"' for c in RELEASE_COLUMNS[t])
                out[t] = [tuple(r) for r in conn.execute(text(f"SELECT {columns} FROM {t} ORDER BY 1"))]
            return out
    finally:
        engine.dispose()


def added_values(url: str) -> set:
    """What the columns added since the release hold in the release's rows."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {v for t, cols in RELEASE_COLUMNS.items()
                    for r in conn.execute(text(f"SELECT * FROM {t}")).mappings()
                    for k, v in r.items() if k not in cols}
    finally:
        engine.dispose()


def differences(url: str) -> list:
    """What Alembic's autogenerate would still add or change to match helpcenter.db (empty: nothing)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
            return _without_inline_references(conn, diff) if conn.dialect.name == "sqlite" else diff
    finally:
        engine.dispose()


def _without_inline_references(conn, diff: list) -> list:
    """SQLAlchemy does not read ON DELETE from a reference declared inside a column (how migration
    0003 must add one on SQLite), so autogenerate reports it as removed and added again. Drop such
    a pair only when SQLite itself (PRAGMA foreign_key_list) holds the reference the model wants."""
    def key(fk) -> tuple:
        return fk.table.name, tuple(c.name for c in fk.columns), fk.referred_table.name

    removed = {key(d[1]) for d in diff if d[0] == "remove_fk"}
    same = set()
    for d in diff:
        if d[0] == "add_fk" and key(d[1]) in removed:
            table, columns, target = key(d[1])
            actual = {(r[3], r[2], r[6]) for r in conn.exec_driver_sql(f"PRAGMA foreign_key_list({table})")}
            if all((c, target, d[1].ondelete or "NO ACTION") in actual for c in columns):
                same.add(key(d[1]))
    return [d for d in diff if not (d[0] in ("add_fk", "remove_fk") and key(d[1]) in same)]


def revisions(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT version_num FROM alembic_version"))]
    finally:
        engine.dispose()


def set_revision(url: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def test_release_0_1_0_database_keeps_every_row_and_works(database_url):  # noqa: F811
    load_release(database_url)
    before = rows(database_url)
    assert sum(map(len, before.values())) >= 15 and all(before.values())  # every table has rows to lose

    store = Storage(database_url)
    store.create_all()  # what the web app and the data commands run
    assert rows(database_url) == before
    assert added_values(database_url) == {None}  # new columns start empty on old rows: nothing invented
    assert revisions(database_url) == [migrate.head()]
    assert differences(database_url) == []  # stamped, upgraded: the same schema as a new install

    old = store.get_escalation("HC-20261120-7K3M")
    assert old.name == "小王" and "换了手机也一样" in old.description
    assert [a.original_name for a in old.attachments] == ["截图 1.png", "短信.jpg"]
    assert old.as_json()["context"]["unhelpful"][0]["comment"] == "没说收不到怎么办"
    new = store.add_escalation(dict(FIELDS), {}, [], outbox=[("webhook", "https://x.example/hook")])
    assert store.get_escalation(new.reference).subject == "升级之后"  # ids continue after the old rows
    due = store.claim_outbox("after-upgrade", limit=10)
    assert {m.reference for m in due} >= {new.reference, "HC-20261121-Q9TX"}  # old pending rows still go out
    assert store.outbox_counts()["failed"] == 1 and store.outbox_counts()["delivered"] == 1
    assert store.popular(1) == ["account/forgot-password"]
    store.engine.dispose()


def test_web_start_up_upgrades_a_release_0_1_0_database(make_app, database_url):  # noqa: F811
    from .conftest import csrf_from

    load_release(database_url)
    app = make_app(database_url=database_url)
    assert revisions(database_url) == [migrate.head()]
    client = app.test_client()
    r = client.post("/api/escalations", headers={"X-CSRFToken": csrf_from(client)},
                    json={"subject": "退款", "description": "升级后提交的第一个求助，看看能不能存下来。",
                          "email": "a@example.com", "category": "orders"})
    assert r.status_code == 201
    store = app.extensions["hc_storage"]
    assert store.get_escalation(r.get_json()["reference"]).email == "a@example.com"
    assert store.get_escalation("HC-20261122-0AB1").description == "It's \"quoted\"; 100% ok."


def test_empty_database_upgraded_to_head_equals_the_models(database_url):  # noqa: F811
    # The guard for every future change: a table or column added to helpcenter/db.py without
    # a migration shows up here as a difference.
    store = Storage(database_url)
    result = store.upgrade()
    assert result.changed and not result.stamped and result.before.empty
    assert differences(database_url) == []
    assert set(inspect(store.engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    store.engine.dispose()


def test_the_model_guard_sees_a_change_without_a_migration(database_url):  # noqa: F811
    Storage(database_url).upgrade()
    engine = create_engine(database_url)
    changed = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["escalations"].append_column(Column("priority", Integer, nullable=True))
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), changed)
        if conn.dialect.name == "sqlite":
            diff = _without_inline_references(conn, diff)
    engine.dispose()
    assert [(d[0], d[3].name) for d in diff] == [("add_column", "priority")]


@pytest.mark.parametrize("start", ["empty", "release-0.1.0"])
def test_concurrent_upgrades_all_succeed_and_apply_once(database_url, start):  # noqa: F811
    # Several nodes (separate engines) start on the same database at the same moment.
    if start != "empty":
        load_release(database_url)
        before = rows(database_url)
    stores = [Storage(database_url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    results, errors = [], []

    def start_node(store: Storage) -> None:
        barrier.wait()
        try:
            results.append(store.upgrade())
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=start_node, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    assert len(results) == 4 and sum(r.changed for r in results) == 1  # one migrated, three found it done
    assert sum(r.stamped for r in results) == (start != "empty")
    assert revisions(database_url) == [migrate.head()]
    assert differences(database_url) == []
    if start != "empty":
        assert rows(database_url) == before
    for s in stores:
        s.engine.dispose()


def test_a_database_newer_than_the_code_is_refused_never_downgraded(make_app, database_url, monkeypatch):  # noqa: F811
    Storage(database_url).upgrade()
    set_revision(database_url, "9999")  # made by a release this code does not know
    for auto in (True, False):
        with pytest.raises(SchemaTooNew, match="9999.*never downgrades"):
            Storage(database_url, auto_migrate=auto).create_all()
    with pytest.raises(SchemaTooNew):
        make_app(database_url=database_url)  # the site refuses to start
    monkeypatch.setenv("HELPCENTER_DATABASE_URL", database_url)
    up = CliRunner().invoke(main, ["db", "upgrade"])
    assert up.exit_code == 1 and "9999" in up.output and "newer release" in up.output
    current = CliRunner().invoke(main, ["db", "current"])
    assert current.exit_code == 1 and "newer than this code" in current.output
    assert revisions(database_url) == ["9999"]
    assert differences(database_url) == []  # nothing dropped or changed


def test_auto_migrate_off_refuses_an_old_schema_and_names_the_command(make_app, database_url, monkeypatch):  # noqa: F811
    load_release(database_url)
    before = rows(database_url)
    with pytest.raises(SchemaOutdated, match="helpcenter db upgrade"):
        make_app(database_url=database_url, auto_migrate=0)
    assert "alembic_version" not in inspect(create_engine(database_url)).get_table_names()  # untouched

    monkeypatch.setenv("HELPCENTER_DATABASE_URL", database_url)
    monkeypatch.setenv("HELPCENTER_AUTO_MIGRATE", "0")  # ops upgrade by hand: the command still does it
    runner = CliRunner()
    behind = runner.invoke(main, ["db", "current"])
    assert behind.exit_code == 1 and "0.1.0" in behind.output and "helpcenter db upgrade" in behind.output
    refused = runner.invoke(main, ["report", "--json"])
    assert refused.exit_code == 1 and "helpcenter db upgrade" in refused.output
    up = runner.invoke(main, ["db", "upgrade"])
    assert up.exit_code == 0, up.output
    assert "recorded as revision 0001" in up.output and f"upgraded to {migrate.head()}" in up.output
    assert runner.invoke(main, ["db", "current"]).exit_code == 0
    assert "nothing to do" in runner.invoke(main, ["db", "upgrade"]).output
    assert rows(database_url) == before
    app = make_app(database_url=database_url, auto_migrate=0)  # now it starts
    assert app.extensions["hc_storage"].get_escalation("HC-20261121-Q9TX").phone == "+86 139-0000-0000"


def test_a_refused_schema_found_after_start_up_keeps_requests_for_the_spool(database_url):  # noqa: F811
    # The database was down when the site started and comes back old, with auto-migration off:
    # storing says "unavailable" (the web layer then spools what people typed), never half-works.
    load_release(database_url)
    store = Storage(database_url, auto_migrate=False)
    with pytest.raises(StorageUnavailable, match="helpcenter db upgrade"):
        store.add_escalation(dict(FIELDS), {}, [])
    assert len(rows(database_url)["escalations"]) == 3
    store.engine.dispose()


def test_some_tables_without_a_revision_are_refused_untouched(database_url):  # noqa: F811
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE escalations (id INTEGER PRIMARY KEY, note TEXT)"))
        conn.execute(text("INSERT INTO escalations (id, note) VALUES (1, '别删我')"))
    with pytest.raises(SchemaUnrecognised, match="attachments.*nothing was changed"):
        Storage(database_url).create_all()
    assert inspect(engine).get_table_names() == ["escalations"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT note FROM escalations")).scalar() == "别删我"
    engine.dispose()


def test_migrations_ship_with_the_package():
    # pip install (not -e) must carry env.py, the template and every version.
    import tomllib

    from setuptools import find_packages

    root = Path(__file__).resolve().parents[1]
    packages = find_packages(str(root), include=["helpcenter*"])
    assert {"helpcenter.migrations", "helpcenter.migrations.versions"} <= set(packages)
    data = tomllib.loads((root / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]["package-data"]
    assert "script.py.mako" in data["helpcenter.migrations"]
    assert "alembic" in " ".join(tomllib.loads((root / "pyproject.toml").read_text("utf-8"))["project"]["dependencies"])


def test_a_database_at_0002_keeps_staff_and_requests_and_they_work_at_head(database_url):  # noqa: F811
    """The schema the last landed code made (staff accounts, 0002) with rows, upgraded to head:
    accounts still sign in, and an old request gets a reply, a status link and search terms."""
    from alembic import command

    from helpcenter.engine.text import get_tokenizer
    from helpcenter.support import inbox, staff, tickets

    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0002")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO staff (id, email, password_hash, role, active, session_version, created_at) "
                          "VALUES (1, 'agent@example.com', :h, 'agent', :t, 3, '2026-12-01 08:00:00')"),
                     {"h": staff.hash_password("a long enough passphrase"), "t": True})
        conn.execute(text("INSERT INTO escalations (id, reference, created_at, email, category, subject, description,"
                          " context, status) VALUES (1, 'HC-20261201-AAAA', '2026-12-01 09:00:00', 'old@example.com',"
                          " 'account', '忘记密码', '升级前提交的：忘记了登录密码', '{}', 'new')"))
        conn.execute(text("INSERT INTO attachments (id, escalation_id, stored_name, original_name, content_type, size)"
                          " VALUES (1, 1, 'old.png', '旧截图.png', 'image/png', 10)"))
    engine.dispose()
    assert revisions(database_url) == ["0002"]

    store = Storage(database_url)
    result = store.upgrade()
    assert result.changed and revisions(database_url) == [migrate.head()]
    assert differences(database_url) == []
    info = staff.verify(store, "agent@example.com", "a long enough passphrase")
    assert info is not None and info.session_version == 3  # signed-in sessions keep working
    old = store.get_escalation("HC-20261201-AAAA")
    assert [a.original_name for a in old.attachments] == ["旧截图.png"] and old.attachments[0].event_id is None
    tickets.reply(store, old.reference, tickets.Actor.staff(info), "已为您重置", email=True)
    assert store.get_escalation(old.reference).status == "pending"
    assert tickets.status_nonce(store, old.reference)  # made on first use for a request stored before links
    tokenizer = get_tokenizer("articles/_dictionary.txt")
    assert tickets.backfill_terms(store, tokenizer.tokens) == 1
    assert [e.reference for e in inbox.list_requests(store, text=inbox.TextQuery("密码", ("密码",)))] == [old.reference]
    store.engine.dispose()


def test_a_database_at_0004_keeps_requests_and_searches_and_records_locales_at_head(database_url):  # noqa: F811
    """The schema the last landed release made (0004, search learns) with rows, upgraded to head:
    the old request and search read as the default locale, and new ones keep theirs."""
    from alembic import command

    from helpcenter.insights.searchlog import SearchLogger

    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0004")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO escalations (reference, created_at, email, category, subject, description,"
                          " context, status) VALUES ('HC-20261202-BBBB', '2026-12-02 09:00:00', 'old@example.com',"
                          " 'account', '忘记密码', '升级前提交的', '{}', 'new')"))
        conn.execute(text("INSERT INTO search_log (key, created_at, visit_id, source, query, results, confident,"
                          " escalated, build_id) VALUES ('k1', '2026-12-02 09:00:00', 'v1', 'site', '忘记密码',"
                          " '[]', :f, :f, '')"), {"f": False})
    engine.dispose()

    store = Storage(database_url)
    assert store.upgrade().changed and revisions(database_url) == [migrate.head()]
    assert differences(database_url) == []
    old = store.get_escalation("HC-20261202-BBBB")
    assert old.subject == "忘记密码" and old.locale is None
    new = store.add_escalation({"email": "new@example.com", "category": "account", "subject": "Password",
                                "description": "I forgot it", "locale": "en"}, {}, [])
    assert store.get_escalation(new.reference).locale == "en"

    class Response:  # what the writer reads of a search response
        normalised, results, confident, build_id = "forgot password", [], False, "b"

    writer = SearchLogger(store, background=False)
    writer.log_search("v2", "site", Response(), locale="zh-Hant")
    with store.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT visit_id, locale FROM search_log")).all())
    assert rows == {"v1": None, "v2": "zh-Hant"}
    store.engine.dispose()


def test_a_database_at_0005_keeps_its_rows_and_stores_conversations_at_head(database_url):  # noqa: F811
    """The schema the last release made (0005, locales) with rows, upgraded to head: its searches
    keep no channel, its outbox keeps its waiting e-mail, and the assistant's conversations,
    channel-tagged searches and LINE replies are stored."""
    from alembic import command

    from helpcenter.support import conversations
    from helpcenter.insights.searchlog import SearchLogger

    engine = create_engine(database_url)
    with engine.begin() as conn:
        command.upgrade(migrate.alembic_config(conn), "0005")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO escalations (reference, created_at, email, category, subject, description,"
                          " context, status, locale) VALUES ('HC-20261205-CCCC', '2026-12-05 09:00:00',"
                          " 'old@example.com', 'account', '忘记密码', '升级前提交的', '{}', 'new', 'zh-Hant')"))
        conn.execute(text("INSERT INTO search_log (key, created_at, visit_id, source, query, results, confident,"
                          " escalated, build_id, locale) VALUES ('k1', '2026-12-05 09:00:00', 'v1', 'site',"
                          " '忘记密码', '[]', :f, :f, '', 'en')"), {"f": False})
        conn.execute(text("INSERT INTO outbox (escalation_id, reference, channel, status, attempts, created_at,"
                          " next_attempt_at) SELECT id, reference, 'confirmation_email', 'pending', 0,"
                          " '2026-12-05 09:00:00', '2026-12-05 09:00:00' FROM escalations"))
    engine.dispose()

    store = Storage(database_url)
    assert store.upgrade().changed and revisions(database_url) == [migrate.head()]
    assert differences(database_url) == []
    assert store.get_escalation("HC-20261205-CCCC").locale == "zh-Hant"
    # The outbox was copied to make escalation_id nullable (SQLite): its waiting e-mail is still due.
    (waiting,) = store.outbox_messages("HC-20261205-CCCC")
    assert waiting.channel == "confirmation_email" and waiting.status == "pending"
    from helpcenter.support.channel_reply import queue_line_reply

    queue_line_reply(store, "E1", "t", "hi")
    assert [m.channel for m in store.claim_outbox("w", 10)] == ["confirmation_email", "line:E1"]
    import datetime as dt

    conv = conversations.load(store, None, channel="api", locale="en", max_turns=5, max_age=dt.timedelta(hours=1))
    conversations.save(store, conv, {"stage": "ask"}, [{"role": "user", "text": "hello"}], max_entries=10)
    again = conversations.load(store, conv.id, channel="api", locale="en", max_turns=5, max_age=dt.timedelta(hours=1))
    assert again.transcript == [{"role": "user", "text": "hello"}] and again.version == 1

    class Response:  # what the writer reads of a search response
        normalised, results, confident, build_id = "hello", [], False, "b"

    SearchLogger(store, background=False).log_search("cv:" + conv.id, "assist", Response(), "en", "widget")
    with store.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT visit_id, channel FROM search_log")).all())
    assert rows == {"v1": None, "cv:" + conv.id: "widget"}
    store.engine.dispose()
