"""Staff sign-in on the web (web/auth.py, web/admin.py): sessions, roles, limits, CSRF."""

from __future__ import annotations

import logging
import re

import pytest

from helpcenter.support import staff as accounts

from .conftest import csrf_from
from .test_web import contact_form

PASSWORD = "a long enough passphrase"


def add(app, email="writer@example.com", role="writer"):
    accounts.add_staff(app.extensions["hc_storage"], email, role, PASSWORD)


def login(client, email="writer@example.com", password=PASSWORD, **environ):
    return client.post("/admin/login", data={"csrf_token": csrf_from(client), "email": email,
                                             "password": password}, environ_base=environ)


def sees_report(client) -> bool:
    r = client.get("/admin")
    return r.status_code == 200 and "概览" in r.get_data(as_text=True)


def copy_of(client, app):
    """Another browser holding the same session cookie (a stolen or copied cookie)."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


@pytest.fixture
def staffed(make_app):
    app = make_app()
    add(app)
    return app


def test_a_writer_signs_in_and_sees_the_report(staffed):
    client = staffed.test_client()
    assert not sees_report(client)
    r = login(client, "  Writer@Example.com ")  # typed as people type it
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/")
    assert sees_report(client)
    assert client.get("/admin/report.csv").status_code == 200


def test_wrong_password_and_unknown_address_get_the_same_answer(staffed):
    client = staffed.test_client()
    wrong = login(client, "writer@example.com", "not the password at all")
    unknown = login(client, "nobody@example.com", PASSWORD)
    assert wrong.status_code == unknown.status_code == 403

    def page(r, email):
        # The CSRF token is signed with a timestamp: it differs once a second has passed.
        html = re.sub(r'(name="csrf[-_]token" (?:content|value)=")[^"]*', r"\1TOKEN", r.get_data(as_text=True))
        return html.replace(email, "EMAIL")
    assert page(wrong, "writer@example.com") == page(unknown, "nobody@example.com")
    assert "邮箱或密码不正确" in wrong.get_data(as_text=True)
    assert 'value="nobody@example.com"' in unknown.get_data(as_text=True)  # what was typed stays
    assert not sees_report(client)


def test_sign_in_starts_a_new_session(staffed):
    client = staffed.test_client()
    before = csrf_from(client)
    login(client)
    assert csrf_from(client) != before  # nothing from the anonymous session carries over
    assert sees_report(client)


def test_logout_ends_the_session_and_a_copied_cookie(staffed):
    client = staffed.test_client()
    login(client)
    copied = copy_of(client, staffed)
    assert sees_report(copied)
    client.post("/admin/logout", data={"csrf_token": csrf_from(client)})
    assert not sees_report(client)
    assert not sees_report(copied)
    assert copied.get("/admin/report.csv").status_code == 302
    assert login(client).status_code == 302 and sees_report(client)  # signing in again works


def test_reset_password_ends_other_sessions(staffed):
    client = staffed.test_client()
    login(client)
    accounts.reset_password(staffed.extensions["hc_storage"], "writer@example.com", "the next long passphrase")
    assert not sees_report(client)
    assert login(client).status_code == 403
    assert login(client, password="the next long passphrase").status_code == 302


def test_a_disabled_account_cannot_sign_in_and_its_session_ends(staffed):
    client = staffed.test_client()
    login(client)
    assert sees_report(client)
    accounts.disable_staff(staffed.extensions["hc_storage"], "writer@example.com")
    assert not sees_report(client)
    again = login(staffed.test_client())
    assert again.status_code == 403 and "邮箱或密码不正确" in again.get_data(as_text=True)  # the same answer


def test_roles_decide_who_sees_the_report(make_app):
    app = make_app()
    add(app, "agent@example.com", "agent")
    add(app, "boss@example.com", "admin")
    agent = app.test_client()
    assert login(agent, "agent@example.com").status_code == 302
    r = agent.get("/admin")
    assert r.status_code == 403 and "没有权限" in r.get_data(as_text=True) and "概览" not in r.get_data(as_text=True)
    assert agent.get("/admin/report.csv").status_code == 403
    boss = app.test_client()
    login(boss, "boss@example.com")
    assert sees_report(boss)


def test_brute_force_hits_the_per_account_limit_without_blocking_the_public_form(make_app):
    app = make_app(rate_limit_login="3 per minute", rate_limit_forms="10 per minute")
    add(app)
    add(app, "other@example.com")
    # Guesses at one account from ever new addresses (a botnet): the account's budget stops them.
    codes = [login(app.test_client(), password=f"guess number {i}", REMOTE_ADDR=f"203.0.113.{i + 1}").status_code
             for i in range(5)]
    assert codes == [403, 403, 403, 429, 429]
    someone = app.test_client()  # behind the first guesser's address
    r = someone.post("/contact", data=contact_form(someone), environ_base={"REMOTE_ADDR": "203.0.113.1"})
    assert r.status_code == 302, r.get_data(as_text=True)
    assert login(app.test_client(), "other@example.com", REMOTE_ADDR="203.0.113.9").status_code == 302


def test_the_sign_in_form_requires_csrf(make_app):
    app = make_app({"WTF_CSRF_ENABLED": True})
    add(app)
    client = app.test_client()
    r = client.post("/admin/login", data={"email": "writer@example.com", "password": PASSWORD})
    assert r.status_code == 400 and "CSRF" in r.get_data(as_text=True)
    assert not sees_report(client)
    page = client.get("/admin").get_data(as_text=True)
    assert re.search(r'name="csrf_token" value="[^"]+"', page)


def test_a_forged_session_id_is_refused(staffed):
    client = staffed.test_client()
    login(client)
    with client.session_transaction() as sess:
        staff_id, _, version = sess["_user_id"].partition(":")
        sess["_user_id"] = f"{staff_id}:{int(version) + 5}"  # the secret key signs it; still no match
    assert not sees_report(client)


def test_the_old_token_setting_is_ignored_with_a_warning(make_app, monkeypatch, caplog):
    monkeypatch.setenv("HELPCENTER_ADMIN_TOKEN", "old-shared-token")
    with caplog.at_level(logging.WARNING):
        client = make_app().test_client()
    assert "HELPCENTER_ADMIN_TOKEN" in caplog.text and "helpcenter staff add" in caplog.text
    assert client.post("/admin/login", data={"csrf_token": csrf_from(client),
                                             "token": "old-shared-token"}).status_code == 403


# --- staff management on the admin page, and changing one's own password ---

def test_only_an_admin_manages_staff_and_forms_need_csrf(make_app):
    app = make_app()
    add(app, "boss@example.com", "admin")
    add(app)
    writer = app.test_client()
    login(writer)
    assert writer.get("/admin/staff").status_code == 403
    refused = writer.post("/admin/staff", data={"csrf_token": csrf_from(writer), "email": "x@example.com",
                                                "role": "admin", "password": PASSWORD})
    assert refused.status_code == 403
    assert accounts.find_staff(app.extensions["hc_storage"], "x@example.com") is None
    assert app.test_client().get("/admin/staff").status_code == 302  # not signed in: to the sign-in

    boss = app.test_client()
    login(boss, "boss@example.com")
    page = boss.get("/admin/staff").get_data(as_text=True)
    assert "writer@example.com" in page and "写作者" in page
    assert boss.post("/admin/staff", data={"email": "x@example.com", "role": "agent",
                                           "password": PASSWORD}).status_code == 400  # no CSRF token
    short = boss.post("/admin/staff", data={"csrf_token": csrf_from(boss), "email": "new@example.com",
                                            "role": "agent", "password": "short"})
    html = short.get_data(as_text=True)
    assert short.status_code == 400 and "密码太短" in html and 'value="new@example.com"' in html
    added = boss.post("/admin/staff", data={"csrf_token": csrf_from(boss), "email": "new@example.com",
                                            "role": "agent", "password": PASSWORD})
    assert added.status_code == 302
    assert accounts.find_staff(app.extensions["hc_storage"], "new@example.com").role == "agent"

    assert sees_report(writer)
    r = boss.post("/admin/staff/disable", data={"csrf_token": csrf_from(boss), "email": "writer@example.com"})
    assert r.status_code == 302
    assert not sees_report(writer)  # disabled: the open session ends at once
    own = boss.post("/admin/staff/disable", data={"csrf_token": csrf_from(boss), "email": "boss@example.com"})
    assert own.status_code == 400 and "不能停用自己的账号" in own.get_data(as_text=True)


def test_changing_the_password_ends_other_sessions_and_keeps_this_one(staffed):
    here = staffed.test_client()
    login(here)
    elsewhere = staffed.test_client()
    login(elsewhere)
    wrong = here.post("/admin/password", data={"csrf_token": csrf_from(here), "current": "nope nope nope",
                                               "new": "the next long passphrase",
                                               "confirm": "the next long passphrase"})
    assert wrong.status_code == 403 and "当前密码不正确" in wrong.get_data(as_text=True)
    r = here.post("/admin/password", data={"csrf_token": csrf_from(here), "current": PASSWORD,
                                           "new": "the next long passphrase", "confirm": "the next long passphrase"})
    assert r.status_code == 302
    assert sees_report(here) and not sees_report(elsewhere)
    assert login(staffed.test_client(), password="the next long passphrase").status_code == 302
