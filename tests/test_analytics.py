"""Search analytics: logging through the site and API, clicks, escalations, the report, /admin."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import re
import time

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from helpcenter.cli import main
from helpcenter.db import ArticleViews, Escalation, SearchClick, SearchLog
from helpcenter.engine.embed import HashEmbedder
from helpcenter.insights.report import build_report, default_period, group_queries

from .conftest import csrf_from
from .databases import database_url  # noqa: F401  (fixture: sqlite and postgresql)
from .test_web import contact_form

PASSWORD = "writers-only-7f3a-passphrase"
# The hash embedder groups by shared characters; at 0.4 these make three topics.
INVOICE = ["怎么开发票", "怎么开发票", "怎么开发票", "发票怎么开", "发票能开吗"]
ALIPAY = ["支持支付宝付款吗", "支持支付宝付款吗", "支付宝付款可以吗", "可以用支付宝吗"]
OVERSEAS = ["海外能用吗", "海外能用吗", "国外能不能用"]
ANSWERED = "物流一直不更新"  # a question of orders/track-order: similarity 1.0, confident


@pytest.fixture
def app(make_app, database_url):  # noqa: F811
    """The site on SQLite and on PostgreSQL: the report is SQL aggregation."""
    return make_app(database_url=database_url)


def flush(app) -> None:
    """Wait for the background writer (searches never wait for it)."""
    writer = app.extensions.get("hc_search_log")
    assert writer is None or writer.flush()


def rows(app, model=SearchLog):
    flush(app)
    with app.extensions["hc_storage"].session() as s:
        return list(s.scalars(select(model).order_by(model.id)))


def visit_of(client) -> str:
    with client.session_transaction() as sess:
        return sess.get("vid", "")


def period():
    today = default_period("Asia/Shanghai")[1]
    return today - dt.timedelta(days=1), today + dt.timedelta(days=1)


def result_links(html: str) -> list[str]:
    return re.findall(r'class="result-title" href="([^"]+)"', html)


def test_site_and_api_searches_are_logged_without_personal_data(app, client):
    env = {"REMOTE_ADDR": "203.0.113.7"}
    ua = {"User-Agent": "Mozilla/5.0 TestAgent/9.9"}
    page = client.get("/search?q=收不到验证码 我的邮箱 Li.Lei@Example.com 电话 138-0013-8000",
                      headers=ua, environ_base=env)
    api = client.get("/api/search?q=物流一直不更新&k=3", headers=ua, environ_base=env).get_json()
    client.get("/api/suggest?q=物流一直不更新")  # typing suggestions are not searches
    client.get("/search?q=+++")  # nothing searched
    assert page.status_code == 200

    logged = rows(app)
    assert [r.source for r in logged] == ["site", "api"]
    site, api_row = logged
    assert site.query == "收不到验证码 我的邮箱 <邮箱> 电话 <数字>"
    assert api_row.query == "物流一直不更新"
    assert json.loads(api_row.results) == [h["id"] for h in api["results"]]
    assert api_row.confident is True and api["confident"] is True
    assert api_row.top_dense == api["results"][0]["dense"] and api_row.top_score == api["results"][0]["score"]
    assert site.confident is False and site.escalated is False and api_row.escalated is False
    # One random id per visit, from the session; nothing that identifies the person.
    assert site.visit_id == api_row.visit_id == visit_of(client)
    assert re.fullmatch(r"[0-9a-f]{16}", site.visit_id)
    # Columns we generate (ids, time, build) can hold digits like "138" by chance: scan the rest.
    generated = {"id", "key", "created_at", "visit_id", "build_id"}
    stored = " ".join(str(getattr(r, c.name)) for r in logged for c in SearchLog.__table__.columns
                      if c.name not in generated)
    for personal in ("203.0.113.7", "TestAgent", "Mozilla", "example.com", "Li.Lei", "138", "8000"):
        assert personal not in stored
    assert {c.name for c in SearchLog.__table__.columns} == {
        "id", "key", "created_at", "visit_id", "source", "query", "results", "top_score", "top_dense", "confident",
        "escalated", "build_id", "locale", "channel"}

    other = app.test_client()
    other.get("/search?q=密码")
    assert rows(app)[-1].visit_id not in ("", site.visit_id)  # another visitor, another id


def test_result_click_is_recorded_and_the_parameter_stripped(make_app, database_url):  # noqa: F811
    app = make_app(database_url=database_url, result_cut=0.0)  # keep the weak second result to click
    client = app.test_client()
    html = client.get("/search?q=追踪号码").get_data(as_text=True)
    search = rows(app)[-1]
    links = result_links(html)
    assert all(f"?from={search.key}" in link for link in links)
    second = links[1]
    article = second.split("?")[0]
    r = client.get(second)
    assert r.status_code == 302 and r.headers["Location"] == article  # clean URL; the browser keeps #section
    assert client.get(r.headers["Location"]).status_code == 200
    clicks = rows(app, SearchClick)
    assert [(c.search_id, c.article_id, c.rank) for c in clicks] == [
        (search.id, article.removeprefix("/articles/"), 2)]
    client.get(second)  # opening it again is not a second click
    assert len(rows(app, SearchClick)) == 1
    with app.extensions["hc_storage"].session() as s:
        assert s.get(ArticleViews, article.removeprefix("/articles/")).views == 1  # redirects are not views

    stranger = app.test_client()
    stranger.get("/search?q=密码")  # has a visit of its own, but not the search above
    assert stranger.get(links[0]).status_code == 302
    assert client.get(f"{article}?from=nonsense&feedback=no").headers["Location"] == f"{article}?feedback=no"
    assert len(rows(app, SearchClick)) == 1


def test_escalation_marks_the_searches_of_its_visit(app, client):
    client.get("/search?q=收不到验证码")
    client.get("/search?q=验证码一直不来")
    bystander = app.test_client()
    bystander.get("/search?q=收不到验证码")
    r = client.post("/contact", data=contact_form(client))
    assert r.status_code == 302
    ref = r.headers["Location"].rsplit("/", 1)[1]
    vid = visit_of(client)
    assert app.extensions["hc_storage"].get_escalation(ref).as_json()["context"]["visit"] == vid
    assert [(r.visit_id == vid, r.escalated) for r in rows(app)] == [(True, True), (True, True), (False, False)]

    api_client = app.test_client()  # the JSON API path marks its visit too
    api_client.get("/api/search?q=退款多久到账")
    body = {"subject": "退款", "description": "付款成功但是订单显示未支付，想申请退款。", "phone": "13800000000",
            "category": "orders"}
    ok = api_client.post("/api/escalations", json=body, headers={"X-CSRFToken": csrf_from(api_client)})
    assert ok.status_code == 201
    assert rows(app)[-1].escalated is True and rows(app)[2].escalated is False


def test_escalations_stored_later_still_count_against_deflection(app):
    """A request spooled while the database was down is stored later, without marking searches."""
    visitor = app.test_client()
    visitor.get("/search?q=收不到验证码")
    app.test_client().get("/search?q=密码")
    vid = visit_of(visitor)
    since, until = period()
    flush(app)
    assert build_report(app.extensions["hc_storage"], None, since, until).summary["escalated_visits"] == 0
    app.extensions["hc_storage"].add_escalation(
        {"email": "x@example.com", "category": "account", "subject": "验证码", "description": "收不到验证码已经三天了"},
        {"visit": vid, "query": "收不到验证码", "read": []}, [])
    summary = build_report(app.extensions["hc_storage"], None, since, until).summary
    assert (summary["visits"], summary["escalated_visits"], summary["deflection_rate"]) == (2, 1, 0.5)


def test_api_traffic_is_counted_apart_from_site_visits(app):
    # Two site visits: one escalates, one leaves. Deflection: 1 of 2.
    person = app.test_client()
    person.get("/search?q=收不到验证码")
    assert person.post("/contact", data=contact_form(person)).status_code == 302
    app.test_client().get("/search?q=密码")
    # A script calls the API without keeping cookies: 20 searches, not 20 self-served visits.
    for _ in range(20):
        assert app.test_client().get("/api/search?q=物流一直不更新").status_code == 200
    # An app passes its own visit id: its searches and its escalation belong together.
    bot = app.test_client(use_cookies=False)
    visit = {"X-Visit-Id": "chat-7f3a9c2e41"}
    assert bot.get("/api/search?q=怎么开发票", headers=visit).status_code == 200
    assert bot.get("/api/search?q=发票怎么开&visit=chat-7f3a9c2e41").status_code == 200
    token_client = app.test_client()
    body = {"subject": "发票", "description": "下单后想开发票但是找不到入口。", "phone": "13800000000", "category": "orders"}
    r = token_client.post("/api/escalations", json=body, headers={**visit, "X-CSRFToken": csrf_from(token_client)})
    assert r.status_code == 201
    esc = app.extensions["hc_storage"].get_escalation(r.get_json()["reference"])
    assert esc.as_json()["context"]["visit"] == "api:chat-7f3a9c2e41"  # kept apart from site visit ids
    assert [row.escalated for row in rows(app) if row.visit_id == "api:chat-7f3a9c2e41"] == [True, True]

    since, until = period()
    report = build_report(app.extensions["hc_storage"], None, since, until)
    s = report.summary
    assert (s["visits"], s["escalated_visits"], s["deflection_rate"]) == (2, 1, 0.5)
    assert (s["searches"], s["site_searches"], s["api_searches"]) == (24, 2, 22)
    assert "API 搜索 22 次" in report.to_text()

    # A malformed visit id is refused, and nothing is logged for it.
    for bad in ("short", "x" * 29, "<script>alert(1)</script>", "中文访问标识符号码"):
        r = bot.get("/api/search", query_string={"q": "密码", "visit": bad})
        body = r.get_json()
        assert r.status_code == 400 and "visit" in body["fields"] and body["code"] == "invalid_visit", bad
    assert bot.get("/api/search?q=密码", headers={"X-Visit-Id": "bad id!"}).status_code == 400
    assert len(rows(app)) == 24


def test_an_api_client_cannot_join_a_site_visit_by_passing_its_id(app):
    """Site visit ids are 16 hex characters, which the client id pattern accepts: a client's own
    ids are kept apart, so its searches and escalation never land in someone's site visit."""
    from helpcenter.support.privacy import delete_person, export_person

    visitor = app.test_client()
    visitor.get("/search?q=收不到验证码")
    vid = visit_of(visitor)
    assert re.fullmatch(r"[0-9a-f]{16}", vid)

    bot = app.test_client(use_cookies=False)
    assert bot.get(f"/api/search?q=怎么开发票&visit={vid}").status_code == 200
    token_client = app.test_client()
    body = {"subject": "发票", "description": "下单后想开发票但是找不到入口。", "phone": "13800000001",
            "category": "orders"}
    r = token_client.post("/api/escalations", json=body,
                          headers={"X-Visit-Id": vid, "X-CSRFToken": csrf_from(token_client)})
    assert r.status_code == 201
    flush(app)

    logged = rows(app)
    assert [(row.query, row.escalated) for row in logged if row.visit_id == vid] == [("收不到验证码", False)]
    assert [row.query for row in logged if row.source == "api" and row.visit_id != vid] == ["怎么开发票"]
    since, until = period()
    summary = build_report(app.extensions["hc_storage"], None, since, until).summary
    assert (summary["visits"], summary["escalated_visits"]) == (1, 0)  # the site visit was self-served
    # The client's own searches still link up with its escalation, and only those.
    upload_dir = app.extensions["hc_upload_dir"]
    exported = export_person(app.extensions["hc_storage"], upload_dir, phone="13800000001")
    assert [q["query"] for q in exported["searches"]] == ["怎么开发票"]
    delete_person(app.extensions["hc_storage"], upload_dir, phone="13800000001")
    assert [row.query for row in rows(app)] == ["收不到验证码"]


def test_logging_problems_never_break_a_search(make_app, tmp_path, caplog):
    app = make_app()
    client = app.test_client()
    with app.extensions["hc_storage"].engine.begin() as conn:
        conn.execute(text("DROP TABLE search_clicks"))
        conn.execute(text("DROP TABLE search_log"))
    with caplog.at_level(logging.WARNING, logger="helpcenter.insights.searchlog"):
        r = client.get("/search?q=追踪号码")
        api = client.get("/api/search?q=追踪号码")
        flush(app)
        later = client.get("/search?q=追踪号码")
        flush(app)
    assert r.status_code == 200 and "订单无法追踪怎么办" in r.get_data(as_text=True)
    assert api.status_code == 200 and api.get_json()["results"]
    warnings = [m for m in caplog.messages if "search analytics" in m]
    assert len(warnings) == 1  # then it pauses instead of failing on every search
    assert "?from=" not in later.get_data(as_text=True)  # while paused: plain links
    clicked = "/articles/orders/track-order?from=0123456789abcdef"
    assert client.get(clicked).status_code == 302
    assert client.get(clicked, follow_redirects=True).status_code == 200

    down = make_app(database_url=f"sqlite:///{tmp_path}/missing-dir/db.sqlite").test_client()
    assert down.get("/search?q=密码").status_code == 200
    assert down.get("/api/search?q=密码").status_code == 200


def test_a_slow_database_does_not_slow_searches(app, client, monkeypatch):
    from helpcenter.insights.searchlog import SearchLogger

    write = SearchLogger._write

    def slow_write(self, batch):
        time.sleep(0.5)  # a locked or far-away database
        write(self, batch)

    monkeypatch.setattr(SearchLogger, "_write", slow_write)
    client.get("/search?q=预热")  # the first request also loads jieba
    started = time.perf_counter()
    for q in ("密码", "邮箱", "物流", "订单"):
        assert client.get(f"/api/search?q={q}").status_code == 200
    assert time.perf_counter() - started < 0.5
    assert [r.query for r in rows(app)] == ["预热", "密码", "邮箱", "物流", "订单"]  # all written, in order


def test_report_groups_paraphrased_unanswered_queries(app):
    client = app.test_client()
    for q in INVOICE + ALIPAY + OVERSEAS + [ANSWERED, ANSWERED]:
        client.get(f"/search?q={q}")
    since, until = period()
    flush(app)
    report = build_report(app.extensions["hc_storage"], HashEmbedder(256), since, until, threshold=0.4)

    groups = {g.label: g for g in report.unanswered}
    assert list(groups) == ["怎么开发票", "支持支付宝付款吗", "海外能用吗"]  # largest first
    assert groups["怎么开发票"].searches == 5
    assert groups["怎么开发票"].queries == [("怎么开发票", 3), ("发票怎么开", 1), ("发票能开吗", 1)]
    assert sorted(q for q, _ in groups["支持支付宝付款吗"].queries) == sorted(set(ALIPAY))
    assert groups["海外能用吗"].searches == 3
    assert ANSWERED not in {q for g in report.unanswered for q, _ in g.queries}  # it was answered
    assert report.top_queries[0] == {"query": "怎么开发票", "searches": 3, "confident_share": 0.0, "clicks": 0}
    assert {"query": ANSWERED, "searches": 2, "confident_share": 1.0, "clicks": 0} in report.top_queries
    assert report.summary["searches"] == 14 and report.summary["unanswered_searches"] == 12

    exact = build_report(app.extensions["hc_storage"], None, since, until)
    assert exact.grouping == "exact" and len(exact.unanswered) == 8


def test_report_votes_escalations_deflection_and_date_range(app):
    storage = app.extensions["hc_storage"]
    # Visit 1 reads an article, votes no, escalates; visit 2 searches and leaves; visit 3 too.
    v1 = app.test_client()
    v1.get("/search?q=收不到验证码")
    v1.get("/articles/account/forgot-password")
    token = csrf_from(v1)
    v1.post("/articles/account/forgot-password/feedback",
            data={"csrf_token": token, "helpful": "no", "comment": "没说收不到短信怎么办"})
    assert v1.post("/contact", data=contact_form(v1)).status_code == 302
    for q in ("密码", "邮箱"):
        app.test_client().get(f"/search?q={q}")
    api = app.test_client()
    headers = {"X-CSRFToken": csrf_from(api)}
    api.post("/api/feedback", json={"article": "account/forgot-password", "helpful": False}, headers=headers)
    api.post("/api/feedback", json={"article": "contact/email", "helpful": True}, headers=headers)
    api.post("/api/feedback", json={"article": "contact/email", "helpful": False, "comment": "邮箱地址呢"},
             headers=headers)

    since, until = period()
    flush(app)
    report = build_report(storage, HashEmbedder(256), since, until, titles={"account/forgot-password": "忘记密码怎么重置"})
    s = report.summary
    assert (s["visits"], s["escalated_visits"], s["escalations"]) == (3, 1, 1)
    assert s["deflection_rate"] == pytest.approx(2 / 3)
    assert (s["votes_yes"], s["votes_no"]) == (1, 3)
    assert [(a["article"], a["no"], a["yes"]) for a in report.unhelpful] == [
        ("account/forgot-password", 2, 0), ("contact/email", 1, 1)]
    assert report.unhelpful[0]["title"] == "忘记密码怎么重置"
    assert [c["comment"] for c in report.unhelpful[0]["comments"]] == ["没说收不到短信怎么办"]
    assert report.escalated_after_reading == [
        {"article": "account/forgot-password", "title": "忘记密码怎么重置", "escalations": 1}]

    # Yesterday's rows fall outside a range that starts today, and the other way round.
    with storage.session() as db, db.begin():
        for row in db.scalars(select(SearchLog)):
            row.created_at = row.created_at - dt.timedelta(days=10)
        for esc in db.scalars(select(Escalation)):
            esc.created_at = esc.created_at - dt.timedelta(days=10)
    later = build_report(storage, HashEmbedder(256), until - dt.timedelta(days=2), until)
    assert later.summary["searches"] == 0 and later.summary["escalations"] == 0
    assert later.summary["deflection_rate"] is None
    earlier = build_report(storage, HashEmbedder(256), since - dt.timedelta(days=12), since - dt.timedelta(days=8))
    assert earlier.summary["searches"] == 3 and earlier.summary["escalations"] == 1
    with pytest.raises(ValueError):
        build_report(storage, None, until, since)


def test_report_csv_columns_and_cli(app, built, tmp_path):
    client = app.test_client()
    for q in INVOICE + [ANSWERED]:
        client.get(f"/search?q={q}")
    since, until = period()
    flush(app)
    report = build_report(app.extensions["hc_storage"], HashEmbedder(256), since, until, threshold=0.4)
    table = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert list(table[0]) == ["section", "rank", "item", "title", "count", "share", "details"]
    summary = {r["item"]: r for r in table if r["section"] == "summary"}
    assert summary["searches"]["count"] == "6" and summary["deflection_rate"]["share"] == "1.0"
    unanswered = [r for r in table if r["section"] == "unanswered"]
    assert unanswered == [{"section": "unanswered", "rank": "1", "item": "怎么开发票", "title": "", "count": "5",
                           "share": "", "details": "怎么开发票 (3) | 发票怎么开 (1) | 发票能开吗 (1)"}]
    top = [r for r in table if r["section"] == "top_queries"]
    assert (top[0]["item"], top[0]["count"], top[0]["share"]) == ("怎么开发票", "3", "0.0")

    env = {"HELPCENTER_MODEL": "hash", "HELPCENTER_USER_DICT": "", "HELPCENTER_INDEX_DIR": built.index_dir,
           "HELPCENTER_INSTANCE_DIR": app.instance_path, "HELPCENTER_REPORT_CLUSTER_THRESHOLD": "0.4",
           "HELPCENTER_DATABASE_URL": app.extensions["hc_settings"].database_url}
    flush(app)
    out_csv = tmp_path / "report.csv"
    args = ["report", "--since", since.isoformat(), "--until", until.isoformat()]
    res = CliRunner().invoke(main, args + ["--csv", str(out_csv), "--json"], env=env)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["unanswered_groups"][0]["label"] == "怎么开发票"
    assert data["unanswered_groups"][0]["distinct_queries"] == 3 and data["grouping"] == "embedding"
    raw = out_csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM for spreadsheet programs
    assert list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))) == table
    text_out = CliRunner().invoke(main, args, env=env)
    assert text_out.exit_code == 0 and "怎么开发票  ×5（3 种问法）" in text_out.output
    bad = CliRunner().invoke(main, ["report", "--since", "2026-02-01", "--until", "2026-01-01"], env=env)
    assert bad.exit_code == 2


# --- /admin -------------------------------------------------------------------------------------------


def with_writer(app, email="writer@example.com"):
    from helpcenter.support.staff import add_staff

    add_staff(app.extensions["hc_storage"], email, "writer", PASSWORD)
    return app


def login(client, password=PASSWORD, email="writer@example.com"):
    return client.post("/admin/login", data={"csrf_token": csrf_from(client), "email": email,
                                             "password": password})


def test_admin_without_accounts_asks_for_a_sign_in_and_shows_nothing(client):
    page = client.get("/admin")
    assert page.status_code == 200 and 'name="password"' in page.get_data(as_text=True)
    assert "helpcenter staff add" in page.get_data(as_text=True)  # how the first account is made
    assert "概览" not in page.get_data(as_text=True)
    assert client.get("/admin/report.csv").status_code == 302
    assert login(client, "anything-at-all-here").status_code == 403


def test_admin_refuses_a_wrong_password_and_never_takes_it_from_the_url(make_app):
    client = with_writer(make_app()).test_client()
    first = client.get("/admin")
    assert first.status_code == 200 and 'name="password"' in first.get_data(as_text=True)
    assert "no-store" in first.headers["Cache-Control"]
    wrong = login(client, "writers-only")
    assert wrong.status_code == 403 and "邮箱或密码不正确" in wrong.get_data(as_text=True)
    assert "概览" not in client.get("/admin").get_data(as_text=True)
    assert "概览" not in client.get(f"/admin?email=writer@example.com&password={PASSWORD}").get_data(as_text=True)
    assert client.get("/admin/report.csv").status_code == 302
    no_csrf = client.post("/admin/login", data={"email": "writer@example.com", "password": PASSWORD})
    assert no_csrf.status_code == 400
    assert "概览" not in client.get("/admin").get_data(as_text=True)


def test_admin_shows_the_report_with_the_right_token(make_app):
    app = with_writer(make_app(report_cluster_threshold=0.4))
    visitor = app.test_client()
    for q in INVOICE + ALIPAY + ["<b>发票</b>"]:
        visitor.get(f"/search?q={q}")
    visitor.get("/articles/contact/email")
    visitor.post("/articles/contact/email/feedback",
                 data={"csrf_token": csrf_from(visitor), "helpful": "no", "comment": "<i>没写邮箱地址</i>"})

    flush(app)
    client = app.test_client()
    r = login(client)
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/")
    html = client.get("/admin").get_data(as_text=True)
    assert "写作者报告" in html and "概览" in html and "自助解决率" in html
    section = html[html.index("没有确切答案的问题"):html.index("热门搜索")]
    assert section.index("怎么开发票") < section.index("支持支付宝付款吗")
    assert "发票能开吗" in section and "×3" in section
    assert "通过电子邮件联系客服" in html and "&lt;i&gt;没写邮箱地址&lt;/i&gt;" in html  # escaped
    assert "<b>发票</b>" not in html
    assert "退出" in html

    ranged = client.get("/admin?since=2000-01-01&until=2000-01-31").get_data(as_text=True)
    assert "<strong>0</strong> 次搜索" in ranged
    assert "日期格式" in client.get("/admin?since=yesterday").get_data(as_text=True)

    since, until = period()
    export = client.get(f"/admin/report.csv?since={since}&until={until}")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert "attachment" in export.headers["Content-Disposition"]
    body = export.get_data(as_text=True)
    assert body.startswith("\ufeffsection,rank,item")
    assert "unanswered,1,怎么开发票,,5," in body
    assert "unhelpful,1,contact/email,通过电子邮件联系客服,1,1.0,<i>没写邮箱地址</i>" in body

    client.post("/admin/logout", data={"csrf_token": csrf_from(client)})
    assert "概览" not in client.get("/admin").get_data(as_text=True)


def test_resetting_the_password_signs_everyone_out(make_app, tmp_path):
    from helpcenter.support.staff import reset_password

    app = with_writer(make_app())
    client = app.test_client()
    login(client)
    assert "概览" in client.get("/admin").get_data(as_text=True)
    cookie = client.get_cookie("session")
    reset_password(app.extensions["hc_storage"], "writer@example.com", "a-new-long-passphrase")
    other = app.test_client()
    other.set_cookie("session", cookie.value)
    assert "概览" not in other.get("/admin").get_data(as_text=True)
    assert "概览" not in client.get("/admin").get_data(as_text=True)


@pytest.mark.model
def test_real_model_groups_chinese_paraphrases_at_the_default_threshold():
    from helpcenter.config import Settings
    from helpcenter.engine.embed import load_embedder

    embedder = load_embedder("multilingual-e5-small")
    counts = [("怎么开发票", 4), ("能开发票吗", 2), ("申请电子发票", 1),
              ("可以用支付宝付款吗", 3), ("支持支付宝吗", 1), ("能不能用支付宝支付", 1),
              ("国外能用吗", 2), ("出国了还能用吗", 1), ("海外可以使用吗", 1),
              ("怎么注销账号", 2), ("账号怎么删除", 1)]
    groups = group_queries(counts, embedder, Settings().report_cluster_threshold)
    assert sorted(sorted(q for q, _ in g.queries) for g in groups) == sorted([
        sorted(["怎么开发票", "能开发票吗", "申请电子发票"]),
        sorted(["可以用支付宝付款吗", "支持支付宝吗", "能不能用支付宝支付"]),
        sorted(["国外能用吗", "出国了还能用吗", "海外可以使用吗"]),
        sorted(["怎么注销账号", "账号怎么删除"]),
    ])
    assert groups[0].label == "怎么开发票" and groups[0].searches == 7
