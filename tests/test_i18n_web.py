"""The reader's locale on the site: URLs, first visits, the switcher, and what each locale shows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpcenter.engine.build import build_index
from helpcenter.engine.content import load_articles
from helpcenter.engine.embed import HashEmbedder
from helpcenter.engine.translations import source_hash

from .conftest import csrf_from, write_tree

EN_FORGOT = """---
title: How to reset a forgotten password
summary: Verify by e-mail or text message, then choose a new password.
source: {source}
---

## Reset it yourself

On the sign-in page choose "Forgot password".
"""


@pytest.fixture
def app(make_app, built):
    root = Path(built.articles_dir)
    src = source_hash(load_articles(root).articles["account/forgot-password"])
    write_tree(root, {"account/forgot-password.en.md": EN_FORGOT.format(source=src),
                      "account/_category.en.yml": "name: Account and security\n"})
    build_index(built, embedder=HashEmbedder(256))
    return make_app()


def test_the_default_locale_keeps_unprefixed_urls_and_others_get_a_prefix(client) -> None:
    zh = client.get("/articles/account/forgot-password")
    assert zh.status_code == 200 and '<html lang="zh-Hans">' in zh.text
    hant = client.get("/zh-hant/articles/account/forgot-password")
    assert '<html lang="zh-Hant">' in hant.text and "忘記密碼怎麼重置" in hant.text
    en = client.get("/en/articles/account/forgot-password")
    assert '<html lang="en">' in en.text and "How to reset a forgotten password" in en.text
    # Links keep the reader in their locale; static files have one URL for all.
    assert 'href="/en/categories/account"' in en.text and 'href="/static/style.css"' in en.text
    assert client.get("/EN/articles/account/forgot-password").status_code == 200


def test_first_visit_follows_accept_language_and_a_crawler_gets_the_page_it_asked_for(client) -> None:
    for header, where in (("zh-TW,zh;q=0.9", "/zh-hant/"), ("zh-HK", "/zh-hant/"), ("en-GB,en;q=0.8", "/en/")):
        r = client.get("/", headers={"Accept-Language": header})
        assert r.status_code == 302 and r.headers["Location"] == where, header
        assert "Accept-Language" in r.headers["Vary"]
    assert client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).status_code == 200
    assert client.get("/", headers={"Accept-Language": "fr-FR"}).status_code == 200  # not served: the default
    assert client.get("/").status_code == 200  # no header (crawlers): no redirect


def test_the_switcher_keeps_the_page_and_the_choice_is_remembered(client) -> None:
    page = client.get("/articles/account/forgot-password?feedback=no")
    (switch,) = re.findall(r'href="(/locale/en\?next=[^"]+)"', page.text)
    r = client.get(switch.replace("&amp;", "&"))
    assert r.status_code == 303 and r.headers["Location"] == "/en/articles/account/forgot-password?feedback=no"
    # Remembered: the unprefixed URL now leads to English, even with a Chinese browser.
    again = client.get("/categories/account", headers={"Accept-Language": "zh-CN"})
    assert again.status_code == 302 and again.headers["Location"] == "/en/categories/account"
    # Choosing 简体 again is remembered too.
    client.get("/locale/zh-hans?next=/")
    assert client.get("/categories/account", headers={"Accept-Language": "en"}).status_code == 200


def test_the_switcher_only_leads_to_this_site(client) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        r = client.get("/locale/en", query_string={"next": target})
        assert r.headers["Location"] == "/en/"
    assert client.get("/locale/xx?next=/").status_code == 404


def test_every_page_lists_its_alternates(client) -> None:
    html = client.get("/zh-hant/categories/account").text
    links = dict(re.findall(r'<link rel="alternate" hreflang="([^"]+)" href="([^"]+)">', html))
    assert links == {"zh-Hans": "http://localhost/categories/account",
                     "zh-Hant": "http://localhost/zh-hant/categories/account",
                     "en": "http://localhost/en/categories/account",
                     "x-default": "http://localhost/categories/account"}


def test_an_english_reader_of_an_untranslated_article_gets_the_source_marked(client) -> None:
    html = client.get("/en/articles/account/stolen-account").text
    assert "账号被盗怎么办" in html and 'lang="zh-Hans"' in html
    assert "not available in English" in html
    # Search engines are pointed at the source, and no English alternate is claimed.
    assert '<link rel="canonical" href="http://localhost/articles/account/stolen-account">' in html
    assert 'hreflang="en"' not in html.split("</head>")[0]


def test_search_finds_in_any_language_and_shows_the_readers_version(client) -> None:
    en = client.get("/en/search", query_string={"q": "forgot password reset"}).text
    assert "How to reset a forgotten password" in en
    zh = client.get("/search", query_string={"q": "forgot password reset"}).text
    assert "忘记密码怎么重置" in zh
    hant = client.get("/zh-hant/search", query_string={"q": "忘記密碼"}).text
    assert "忘記密碼怎麼重置" in hant
    api = client.get("/api/search", query_string={"q": "forgot password", "locale": "en"}).get_json()
    assert api["results"][0]["title"] == "How to reset a forgotten password"
    assert api["results"][0]["locale"] == "en"


def test_a_request_records_its_locale_and_the_status_page_speaks_it(app, client) -> None:
    client.get("/en/contact")
    r = client.post("/en/contact", data={
        "csrf_token": csrf_from(client), "email": "reader@example.com", "category": "account",
        "subject": "Password", "description": "I cannot reset my password from the sign-in page."})
    assert r.status_code == 302 and r.headers["Location"].startswith("/en/contact/done/")
    done = client.get(r.headers["Location"]).get_data(as_text=True)
    ref = re.search(r'id="reference"[^>]*>([^<]+)<', done).group(1).strip()
    assert "We’ve received your request" in done and "已收到" not in done
    storage = app.extensions["hc_storage"]
    assert storage.get_escalation(ref).locale == "en"


def test_every_ui_string_has_its_translation() -> None:
    """A new string added without its English (or a stale catalog) fails here, as in CI."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, str(root / "scripts" / "i18n.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_counts_read_as_english_in_english(client) -> None:
    """ngettext strings have their English plural forms: 2 articles, not 2 篇文章."""
    home = client.get("/en/").get_data(as_text=True)
    assert "2 articles" in home and "篇文章" not in home
