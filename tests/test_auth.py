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


# --- sign-in backoff on the web ---------------------------------------------------------------------

def normalised_page(r, email):
    """The page with what legitimately differs taken out: the CSRF token's timestamp, the address typed."""
    html = re.sub(r'(name="csrf[-_]token" (?:content|value)=")[^"]*', r"\1TOKEN", r.get_data(as_text=True))
    return html.replace(email, "EMAIL")


def test_a_locked_account_gets_the_same_answer_as_a_wrong_password_and_an_unknown_address(make_app):
    app = make_app(rate_limit_login="8 per minute", rate_limit_forms="10 per minute")
    add(app)
    client = app.test_client()
    ip = {"REMOTE_ADDR": "198.51.100.7"}
    for i in range(accounts.FREE_FAILURES):
        assert login(client, password=f"guess number {i}", **ip).status_code == 403
    locked = login(client, password=PASSWORD, **ip)  # the right password, while the account is locked
    wrong = login(client, password="yet another guess", **ip)
    unknown = login(client, "nobody@example.com", PASSWORD, **ip)
    assert locked.status_code == wrong.status_code == unknown.status_code == 403
    assert normalised_page(locked, "writer@example.com") == normalised_page(wrong, "writer@example.com") \
        == normalised_page(unknown, "nobody@example.com")
    assert "邮箱或密码不正确" in locked.get_data(as_text=True)
    assert "锁定" not in locked.get_data(as_text=True)  # nothing tells a guesser the account exists
    assert not sees_report(client)

    # Eight failures: this address's sign-in budget is spent...
    assert login(client, password=PASSWORD, **ip).status_code == 429
    # ...and someone behind the same address can still ask for help.
    person = app.test_client()
    r = person.post("/contact", data=contact_form(person), environ_base=ip)
    assert r.status_code == 302, r.get_data(as_text=True)


# --- an admin sets another account's password, enables an account ---------------------------------

NEW = "a fresh admin-set passphrase"


def set_password(client, email, new=NEW, confirm=None, csrf=True):
    data = {"email": email, "new": new, "confirm": new if confirm is None else confirm}
    if csrf:
        data["csrf_token"] = csrf_from(client)
    return client.post("/admin/staff/password", data=data)


def test_an_admin_sets_a_locked_out_colleagues_password_and_ends_their_sessions(make_app):
    app = make_app()
    add(app, "boss@example.com", "admin")
    add(app)
    store = app.extensions["hc_storage"]
    writer = app.test_client()
    login(writer)
    for i in range(accounts.FREE_FAILURES):  # then someone locks the account out guessing
        accounts.verify(store, "writer@example.com", f"guess {i}")
    assert login(app.test_client()).status_code == 403  # locked: even the right password

    boss = app.test_client()
    login(boss, "boss@example.com")
    page = boss.get("/admin/staff").get_data(as_text=True)
    assert "为其他账号设置新密码" in page and 'action="/admin/staff/password"' in page
    assert 'option value="boss@example.com"' not in page  # not their own: that needs the current password

    assert set_password(boss, "writer@example.com", csrf=False).status_code == 400  # no CSRF token
    mismatch = set_password(boss, "writer@example.com", confirm=NEW + "!")
    html = mismatch.get_data(as_text=True)
    assert mismatch.status_code == 400 and "两次输入的新密码不一致" in html
    assert 'option value="writer@example.com" selected' in html and NEW not in html  # choice kept, password not
    short = set_password(boss, "writer@example.com", new="short")
    assert short.status_code == 400 and "密码太短：至少需要 12 个字符" in short.get_data(as_text=True)
    own = set_password(boss, "boss@example.com")
    assert own.status_code == 400 and "修改密码" in own.get_data(as_text=True)
    ghost = set_password(boss, "ghost@example.com")
    assert ghost.status_code == 400 and "没有这个账号" in ghost.get_data(as_text=True)
    assert sees_report(writer)  # nothing changed yet

    done = set_password(boss, "writer@example.com")
    assert done.status_code == 302
    assert "已设置新密码" in boss.get(done.headers["Location"]).get_data(as_text=True)
    assert not sees_report(writer)  # the writer's open session ended
    assert login(app.test_client()).status_code == 403  # the old password no longer works
    fresh = app.test_client()
    assert login(fresh, password=NEW).status_code == 302 and sees_report(fresh)  # and the lock is lifted
    assert sees_report(boss)  # the admin stays signed in


@pytest.mark.parametrize("role", ["agent", "writer"])
def test_only_an_admin_may_set_a_password_or_enable_an_account(make_app, role):
    app = make_app()
    add(app, "boss@example.com", "admin")
    add(app, "other@example.com", "writer")
    add(app, f"{role}1@example.com", role)
    store = app.extensions["hc_storage"]
    accounts.disable_staff(store, "other@example.com")
    client = app.test_client()
    assert login(client, f"{role}1@example.com").status_code == 302
    assert set_password(client, "boss@example.com").status_code == 403
    assert client.post("/admin/staff/enable", data={"csrf_token": csrf_from(client),
                                                    "email": "other@example.com"}).status_code == 403
    assert login(app.test_client(), "boss@example.com", NEW).status_code == 403  # unchanged
    assert login(app.test_client(), "boss@example.com").status_code == 302
    assert not accounts.find_staff(store, "other@example.com").active
    anonymous = app.test_client()
    assert set_password(anonymous, "boss@example.com").status_code == 302  # to the sign-in
    assert login(app.test_client(), "boss@example.com", NEW).status_code == 403


def test_an_admin_enables_a_disabled_account_again(make_app):
    app = make_app()
    add(app, "boss@example.com", "admin")
    add(app)
    boss = app.test_client()
    login(boss, "boss@example.com")
    boss.post("/admin/staff/disable", data={"csrf_token": csrf_from(boss), "email": "writer@example.com"})
    assert login(app.test_client()).status_code == 403
    page = boss.get("/admin/staff").get_data(as_text=True)
    assert "已停用" in page and "重新启用" in page
    assert boss.post("/admin/staff/enable", data={"email": "writer@example.com"}).status_code == 400  # CSRF
    r = boss.post("/admin/staff/enable", data={"csrf_token": csrf_from(boss), "email": "writer@example.com"})
    assert r.status_code == 302 and "重新启用" in boss.get(r.headers["Location"]).get_data(as_text=True)
    writer = app.test_client()
    assert login(writer).status_code == 302 and sees_report(writer)  # with the password it had
    assert "重新启用" not in boss.get("/admin/staff").get_data(as_text=True)
