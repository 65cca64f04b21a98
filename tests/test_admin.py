"""/admin (web/admin.py): the report period and the sign-in budget."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar

import pytest
from click.testing import CliRunner

from helpcenter.cli import main

from .conftest import csrf_from
from .test_web import contact_form

EMAIL = "writer@example.com"
PASSWORD = "writers-only-7f3a-passphrase"


def with_writer(app, email=EMAIL, role="writer"):
    """``app`` with a staff account to sign in with (what `helpcenter staff add` makes)."""
    from helpcenter.support.staff import add_staff

    add_staff(app.extensions["hc_storage"], email, role, PASSWORD)
    return app


def login(client, password=PASSWORD, email=EMAIL, **environ):
    return client.post("/admin/login", data={"csrf_token": csrf_from(client), "email": email,
                                             "password": password}, environ_base=environ)


@pytest.fixture
def admin(make_app):
    client = with_writer(make_app()).test_client()
    assert login(client).status_code == 302
    return client


@pytest.mark.parametrize("query", ["since=0001-01-01", "until=9999-12-31", "since=0001-01-01&until=0001-01-02"])
def test_out_of_range_dates_are_refused_on_the_page_with_the_form_kept(admin, query):
    r = admin.get(f"/admin?{query}")
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "日期超出范围" in html and "1970-01-01" in html
    typed = dict(p.split("=") for p in query.split("&"))
    for value in typed.values():
        assert f'value="{value}"' in html  # what was typed stays in the form
    assert "概览" not in html  # no report for a period it cannot compute
    assert admin.get(f"/admin/report.csv?{query}").status_code == 400


def test_a_malformed_date_is_refused_and_kept_too(admin):
    r = admin.get("/admin?since=yesterday&until=2026-11-30")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "日期格式" in html
    assert 'value="yesterday"' in html and 'value="2026-11-30"' in html


def test_report_command_refuses_out_of_range_dates(app, built):
    env = {"HELPCENTER_MODEL": "hash", "HELPCENTER_USER_DICT": "", "HELPCENTER_INDEX_DIR": built.index_dir,
           "HELPCENTER_INSTANCE_DIR": app.instance_path}
    for option, day in (("--since", "0001-01-01"), ("--until", "9999-12-31")):
        res = CliRunner().invoke(main, ["report", option, day], env=env)
        assert res.exit_code == 2, res.output  # a usage error
        # the same rule, and the same words, as the admin page (insights.report.period_problem)
        assert f"日期超出范围：{day}" in res.output and "1970-01-01" in res.output
        assert "Traceback" not in res.output


def test_failed_sign_ins_have_their_own_budget_and_never_starve_the_public_forms(make_app):
    app = with_writer(make_app(rate_limit_forms="10 per minute", rate_limit_login="10 per minute"))
    ip = {"REMOTE_ADDR": "198.51.100.23"}  # one address shared by many people (mobile carrier NAT)
    attacker = app.test_client()
    # A different account each time: only the per-address budget is at stake here.
    codes = [login(attacker, "wrong-password", f"guess{i}@example.com", **ip).status_code for i in range(12)]
    assert codes[:10] == [403] * 10 and codes[10:] == [429, 429]  # sign-in is limited on its own

    someone = app.test_client()
    r = someone.post("/contact", data=contact_form(someone), environ_base=ip)
    assert r.status_code == 302, r.get_data(as_text=True)
    vote = someone.post("/articles/contact/email/feedback",
                        data={"csrf_token": csrf_from(someone), "helpful": "yes"}, environ_base=ip)
    assert vote.status_code == 302
    api = someone.post("/api/feedback", json={"article": "contact/email", "helpful": True},
                       headers={"X-CSRFToken": csrf_from(someone)}, environ_base=ip)
    assert api.status_code == 201

    # Another address still signs in, and the public forms never used the sign-in budget.
    staff = app.test_client()
    assert login(staff, REMOTE_ADDR="192.0.2.8").status_code == 302


def test_successful_sign_ins_do_not_use_up_the_budget(make_app):
    app = with_writer(make_app(rate_limit_login="3 per minute"))
    for _ in range(5):
        assert login(app.test_client(), REMOTE_ADDR="192.0.2.9").status_code == 302


def test_failed_sign_ins_are_counted_per_address(make_app):
    """One address using up its budget (on any accounts) leaves the other addresses alone;
    the per-account key is the e-mail field, normalised as accounts store it."""
    from helpcenter.web.admin import login_account_key

    app = with_writer(make_app(rate_limit_login="3 per minute"))
    guesser = {"REMOTE_ADDR": "192.0.2.30"}
    codes = [login(app.test_client(), "guess", f"g{i}@example.com", **guesser).status_code for i in range(4)]
    assert codes == [403, 403, 403, 429]
    for i in range(4):  # other addresses: each still has its own budget
        assert login(app.test_client(), "guess", f"h{i}@example.com",
                     REMOTE_ADDR=f"192.0.2.{40 + i}").status_code == 403
    assert login(app.test_client(), REMOTE_ADDR="192.0.2.50").status_code == 302
    client = app.test_client()
    with app.test_request_context("/admin/login", method="POST",
                                  data={"csrf_token": csrf_from(client), "email": " Writer@Example.com "}):
        assert login_account_key() == "admin-account:writer@example.com"


def test_the_page_shows_api_searches_apart_from_site_visits(make_app):
    app = with_writer(make_app())
    app.test_client().get("/search?q=密码")
    for _ in range(3):
        app.test_client().get("/api/search?q=密码")
    app.extensions["hc_search_log"].flush()
    client = app.test_client()
    login(client)
    html = client.get("/admin").get_data(as_text=True)
    assert "来自 <strong>1</strong> 次访问" in html and "API 搜索 <strong>3</strong> 次" in html


def test_parallel_wrong_guesses_beyond_the_budget_are_refused(make_app):
    """Flask-Limiter only tests the failed-only budget before a request and deducts after it,
    so guesses sent all at once would all be tried; every attempt also counts in a second budget."""
    from flask import request

    from helpcenter.web.live import serve_in_thread

    guesses = 12
    app = with_writer(make_app(rate_limit_forms="10 per minute", rate_limit_login="3 per minute",
                               rate_limit_login_attempts="6 per minute"))
    seen = {"in_view": 0, "refused": 0}
    cond = threading.Condition()

    def settled() -> bool:
        return seen["in_view"] + seen["refused"] >= guesses

    @app.before_request  # runs after the limiter's check: holds each admitted guess until all are in
    def _hold_admitted_guesses():
        if request.endpoint == "admin.login":
            with cond:
                seen["in_view"] += 1
                cond.notify_all()
                cond.wait_for(settled, timeout=30)

    with serve_in_thread(app) as base:
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        with opener.open(base + "/api/csrf") as r:
            token = json.load(r)["csrf_token"]
        body = urllib.parse.urlencode({"csrf_token": token, "email": EMAIL, "password": "wrong-guess"}).encode()
        codes: list[int] = []

        def guess() -> None:
            try:
                with opener.open(base + "/admin/login", data=body) as r:
                    code = r.status
            except urllib.error.HTTPError as exc:
                code = exc.code
            with cond:
                codes.append(code)
                if code == 429:
                    seen["refused"] += 1
                    cond.notify_all()

        threads = [threading.Thread(target=guess) for _ in range(guesses)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert sorted(codes) == [403] * 6 + [429] * 6  # at most the all-attempts budget is ever tried

    # The public forms of people behind that address (127.0.0.1 here) have their own budget.
    someone = app.test_client()
    r = someone.post("/contact", data=contact_form(someone), environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert r.status_code == 302, r.get_data(as_text=True)
