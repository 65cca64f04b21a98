"""What a search engine gets: the sitemap, robots.txt, page metadata, JSON-LD, compression, 304s."""

from __future__ import annotations

import gzip
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import brotli
import jsonschema
import pytest

from helpcenter.engine.build import build_index
from helpcenter.engine.content import load_articles
from helpcenter.engine.embed import HashEmbedder
from helpcenter.engine.translations import source_hash

from .conftest import write_tree

NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9", "x": "http://www.w3.org/1999/xhtml"}
ABSOLUTE = {"type": "string", "pattern": "^https?://"}
TEXT = {"type": "string", "minLength": 1}
# The schema.org shapes our pages use, with what Google's rich results require of them.
BREADCRUMBS = {"type": "object", "required": ["@type", "itemListElement"], "properties": {
    "@type": {"const": "BreadcrumbList"},
    "itemListElement": {"type": "array", "minItems": 2, "items": {
        "type": "object", "required": ["@type", "position", "name", "item"],
        "properties": {"@type": {"const": "ListItem"}, "position": {"type": "integer", "minimum": 1},
                       "name": TEXT, "item": ABSOLUTE}}}}}
FAQ = {"type": "object", "required": ["@type", "mainEntity"], "properties": {
    "@type": {"const": "FAQPage"}, "inLanguage": TEXT,
    "mainEntity": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["@type", "name", "acceptedAnswer"],
        "properties": {"@type": {"const": "Question"}, "name": TEXT,
                       "acceptedAnswer": {"type": "object", "required": ["@type", "text"],
                                          "properties": {"@type": {"const": "Answer"}, "text": TEXT}}}}}}}
ARTICLE = {"type": "object", "required": ["@type", "headline", "mainEntityOfPage"], "properties": {
    "@type": {"const": "Article"}, "headline": {"type": "string", "minLength": 1, "maxLength": 110},
    "mainEntityOfPage": ABSOLUTE, "inLanguage": TEXT,
    "dateModified": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}"}}}
GRAPH = {"type": "object", "required": ["@context", "@graph"], "properties": {
    "@context": {"const": "https://schema.org"},
    "@graph": {"type": "array", "minItems": 2, "items": {"oneOf": [BREADCRUMBS, FAQ, ARTICLE]}}}}

EN_FORGOT = """---
title: How do I reset a forgotten password?
summary: Verify by e-mail or text message, then choose a new password.
source: {source}
---

## Reset it yourself

On the sign-in page choose Forgot password.
"""


@pytest.fixture
def app(make_app, built):
    root = Path(built.articles_dir)
    src = source_hash(load_articles(root).articles["account/forgot-password"])
    write_tree(root, {"account/forgot-password.en.md": EN_FORGOT.format(source=src),
                      "account/notice.md": "---\ntitle: 账号安全公告\nsummary: 近期的安全提醒。\nupdated: 2026-10-02\n"
                                           "---\n\n请定期修改密码。\n"})
    build_index(built, embedder=HashEmbedder(256))
    return make_app(public_url="https://help.example.com")


def json_ld(html: str) -> dict:
    (block,) = re.findall(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    return json.loads(block)


def test_the_sitemap_lists_each_locale_that_has_its_own_page_with_alternates_and_lastmod(client) -> None:
    r = client.get("/sitemap.xml")
    assert r.mimetype == "application/xml"
    urls = {u.findtext("s:loc", namespaces=NS): u for u in ET.fromstring(r.data).findall("s:url", NS)}
    base = "https://help.example.com"
    forgot = urls[f"{base}/articles/account/forgot-password"]
    assert forgot.findtext("s:lastmod", namespaces=NS) == "2026-11-01"
    alternates = {link.get("hreflang"): link.get("href") for link in forgot.findall("x:link", NS)}
    assert alternates == {"zh-Hans": f"{base}/articles/account/forgot-password",
                          "zh-Hant": f"{base}/zh-hant/articles/account/forgot-password",
                          "en": f"{base}/en/articles/account/forgot-password",
                          "x-default": f"{base}/articles/account/forgot-password"}
    assert f"{base}/en/articles/account/forgot-password" in urls
    # No English version: its English URL shows the 简体 page, so only the Chinese ones are listed.
    assert f"{base}/zh-hant/articles/account/stolen-account" in urls
    assert f"{base}/en/articles/account/stolen-account" not in urls
    assert f"{base}/en/categories/account" in urls


def test_robots_keeps_staff_search_and_api_out_in_every_locale(client) -> None:
    lines = client.get("/robots.txt").get_data(as_text=True).splitlines()
    for path in ("/admin", "/search", "/api/", "/en/search", "/zh-hant/contact", "/requests/"):
        assert f"Disallow: {path}" in lines
    assert "Disallow: /articles" not in " ".join(lines)
    assert "Sitemap: https://help.example.com/sitemap.xml" in lines


def test_an_article_page_has_its_title_description_canonical_and_opengraph(client) -> None:
    html = client.get("/en/articles/account/forgot-password").get_data(as_text=True)
    assert "<title>How do I reset a forgotten password?" in html
    assert '<meta name="description" content="Verify by e-mail or text message, then choose a new password.">' in html
    assert '<link rel="canonical" href="https://help.example.com/en/articles/account/forgot-password">' in html
    assert '<meta property="og:title" content="How do I reset a forgotten password?">' in html
    # An untranslated English page points search engines at the 简体 page it shows.
    stolen = client.get("/en/articles/account/stolen-account").get_data(as_text=True)
    assert '<link rel="canonical" href="https://help.example.com/articles/account/stolen-account">' in stolen


def test_json_ld_is_a_faq_page_for_a_question_and_an_article_otherwise(client) -> None:
    faq = json_ld(client.get("/en/articles/account/forgot-password").get_data(as_text=True))
    jsonschema.validate(faq, GRAPH)
    main, crumbs = faq["@graph"]
    assert main["@type"] == "FAQPage" and main["inLanguage"] == "en"
    assert main["mainEntity"][0]["name"] == "How do I reset a forgotten password?"
    assert "Forgot password" in main["mainEntity"][0]["acceptedAnswer"]["text"]
    assert [c["position"] for c in crumbs["itemListElement"]] == [1, 2, 3]

    notice = json_ld(client.get("/articles/account/notice").get_data(as_text=True))
    jsonschema.validate(notice, GRAPH)
    assert notice["@graph"][0]["@type"] == "Article"
    assert notice["@graph"][0]["dateModified"] == "2026-10-02"
    assert notice["@graph"][1]["itemListElement"][1]["item"] == "https://help.example.com/categories/account"


def test_the_shape_check_refuses_what_rich_results_would(client) -> None:
    """The schema above is not a rubber stamp: a question without an answer fails it."""
    faq = json_ld(client.get("/en/articles/account/forgot-password").get_data(as_text=True))
    del faq["@graph"][0]["mainEntity"][0]["acceptedAnswer"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(faq, GRAPH)


@pytest.mark.parametrize("path", ["/articles/account/forgot-password", "/static/style.css", "/static/app.js"])
def test_pages_styles_and_scripts_are_compressed(client, path: str) -> None:
    plain = client.get(path, headers={"Accept-Encoding": "identity"})
    plain_body = plain.get_data()
    zipped = client.get(path, headers={"Accept-Encoding": "gzip"})
    br = client.get(path, headers={"Accept-Encoding": "br"})
    assert br.headers["Content-Encoding"] == "br"
    assert len(brotli.decompress(br.get_data())) == len(plain_body)
    assert len(br.get_data()) < len(plain_body) / 2
    if zipped.headers.get("Content-Encoding") == "gzip":  # pages; static files stream (br, zstd)
        assert gzip.decompress(zipped.get_data()).startswith(plain_body[:15])
    else:
        assert path.startswith("/static/")
    assert "Accept-Encoding" in br.headers["Vary"]


def test_a_page_already_fetched_costs_a_304(client) -> None:
    first = client.get("/articles/account/forgot-password", headers={"Accept-Encoding": "gzip"})
    assert first.status_code == 200 and first.headers["ETag"] and first.headers["Last-Modified"]
    again = client.get("/articles/account/forgot-password",
                       headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    crawler = client.get("/articles/account/forgot-password",
                         headers={"If-Modified-Since": first.headers["Last-Modified"]})
    assert crawler.status_code == 304
    # A vote changes the page (its thanks), so the old copy is not good any more.
    voted = client.get("/articles/account/forgot-password?feedback=done",
                       headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]})
    assert voted.status_code == 200
