"""Every page type in real Chromium, in each locale, at phone, tablet and desktop widths.

What a reader would notice: the page scrolls sideways, a link or button is too small to tap
(under 44 x 44 px), the search box's example is cut off, or axe-core finds a serious or
critical accessibility problem (contrast with the brand colour included). axe-core comes
from npm through ``scripts/install --test`` (pinned, into node_modules/).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest

from helpcenter.config import Settings
from helpcenter.engine.build import build_index
from helpcenter.engine.content import load_articles
from helpcenter.engine.embed import HashEmbedder
from helpcenter.engine.search import Searcher
from helpcenter.engine.translations import source_hash
from helpcenter.support import staff
from helpcenter.web import create_app
from helpcenter.web.live import serve_in_thread

from .conftest import TINY, write_tree

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[1] / "node_modules" / "axe-core" / "axe.min.js"
LOCALES = {"zh-Hans": ("", "zh-CN"), "zh-Hant": ("/zh-hant", "zh-TW"), "en": ("/en", "en-US")}
RUNS = [("zh-Hans", w) for w in (360, 390, 768, 1280)] + [(t, w) for t in ("zh-Hant", "en") for w in (390, 1280)]
STAFF = ("agent@example.com", "a long enough passphrase")
ICONS = {"account": "account", "contact": "contact", "orders": "delivery"}
EN_FORGOT = """---
title: How to reset a forgotten password
summary: Verify by e-mail or text message, then choose a new password.
questions:
  - I can't remember my password
source: {source}
---

## Reset it yourself

On the sign-in page choose "Forgot password", verify by e-mail or text message and set a new password.
"""

# What must be big enough to tap: navigation, the switcher, chips, buttons and form controls
# (links inside running text are exempt, as WCAG's target-size rule has it).
TARGETS = """() => {
  const sel = 'header a, header button, header input, nav a, .chip, .best-more, form button, ' +
    'form input:not([type=hidden]):not([type=checkbox]):not([type=radio]), form select, form textarea, ' +
    'label:has(> input[type=checkbox]), label:has(> input[type=radio])';
  const small = [];
  for (const el of document.querySelectorAll(sel)) {
    if (el.closest('.hp, .sr-only, .skip, [hidden]')) continue;  // never shown to people
    const r = el.getBoundingClientRect();
    if (!r.width && !r.height) continue;
    if (r.width < 44 || r.height < 44)
      small.push(`${el.tagName.toLowerCase()} "${(el.innerText || el.value || el.name || '').trim().slice(0, 20)}" ` +
                 `${Math.round(r.width)}x${Math.round(r.height)}`);
  }
  return small;
}"""
# Each visible input's placeholder, measured in the input's own font, fits inside it.
PLACEHOLDERS = """() => {
  const cut = [];
  const ctx = document.createElement('canvas').getContext('2d');
  for (const el of document.querySelectorAll('input[placeholder], textarea[placeholder]')) {
    if (!el.placeholder || !el.getClientRects().length || el.closest('.hp')) continue;
    const cs = getComputedStyle(el);
    ctx.font = cs.font;
    const room = el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
    if (ctx.measureText(el.placeholder).width > room) cut.push(`#${el.id} "${el.placeholder}"`);
  }
  return cut;
}"""
AXE_RUN = """async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`);
}"""


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[dict[str, str]]:
    """The tiny help center with icons and one English translation, a staff account, and a
    second site searching by keyword only (where a search can find nothing at all)."""
    root = tmp_path_factory.mktemp("layout")
    tree = dict(TINY)
    for cat, icon in ICONS.items():
        tree[f"{cat}/_category.yml"] = TINY[f"{cat}/_category.yml"] + f"icon: {icon}\n"
    articles = write_tree(root / "articles", tree)
    source = source_hash(load_articles(articles).articles["account/forgot-password"])
    write_tree(articles, {"account/forgot-password.en.md": EN_FORGOT.format(source=source),
                          "account/_category.en.yml": "name: Account and security\ndescription: Sign-in and passwords.\n"})
    settings = Settings(articles_dir=str(articles), index_dir=str(root / "index"), model="hash", user_dict="",
                        instance_dir=str(root / "instance"), outbox_worker=0, rate_limit_forms="1000 per minute",
                        rate_limit_api="1000 per minute").validate()
    build_index(settings, embedder=HashEmbedder(256))
    app = create_app({"TESTING": True}, settings=settings, searcher=Searcher(settings, embedder=HashEmbedder(256)))
    staff.add_staff(app.extensions["hc_storage"], STAFF[0], "agent", STAFF[1])
    keyword = settings.with_overrides(retrieval="keyword", instance_dir=str(root / "instance-keyword"))
    nothing = create_app({"TESTING": True}, settings=keyword, searcher=Searcher(keyword, embedder=HashEmbedder(256)))
    with serve_in_thread(app) as base, serve_in_thread(nothing) as keyword_base:
        yield {"base": base, "keyword": keyword_base}


def tour(page, live: dict[str, str], prefix: str) -> Iterator[str]:
    """Open every page type in turn, as a reader and then an agent would reach it; yields its name."""
    base = live["base"] + prefix

    def go(url: str, status: int = 200) -> None:
        response = page.goto(url)
        assert response is not None and response.status == status, f"{url}: {response and response.status}"

    go(base + "/")
    yield "home"
    go(base + "/categories/account")
    yield "category"
    go(base + "/articles/account/forgot-password")
    yield "article"
    go(base + "/search?q=" + "密码想不起来了")
    assert page.locator(".result-title").count() > 0
    yield "search"
    go(live["keyword"] + prefix + "/search?q=xyzzy")
    assert page.locator(".result-title").count() == 0
    yield "search-nothing"
    go(base + "/contact")
    yield "contact"
    page.fill("#subject", "重置密码收不到验证码")
    page.fill("#description", "点了重置密码，短信验证码一直收不到，已经试过三次。")
    page.fill("#email", "reader@example.com")
    page.click("button.primary")
    page.wait_for_url(re.compile(r"/contact/done/"))
    yield "done"
    go(page.get_attribute("#status-link", "href"))
    yield "status"
    go(base + "/articles/account/no-such-article", 404)
    yield "not-found"
    go(base + "/admin")
    yield "admin-login"
    page.fill("input[name=email]", STAFF[0])
    page.fill("input[name=password]", STAFF[1])
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    go(base + "/admin/inbox")
    assert page.locator("ul.requests a").count() > 0
    yield "inbox"


@pytest.mark.parametrize(("tag", "width"), RUNS, ids=[f"{t}-{w}" for t, w in RUNS])
def test_every_page_fits_is_tappable_and_passes_axe(browser, live, tag, width):
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: scripts/install --test installs axe-core")
    prefix, browser_locale = LOCALES[tag]
    # axe is injected as a script of the page: only a context that lets it past the CSP can run it
    # (the CSP itself is checked in the test below, with nothing bypassed).
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=browser_locale, bypass_csp=True)
    page = context.new_page()
    problems: list[str] = []
    seen = []
    for name in tour(page, live, prefix):
        seen.append(name)
        where = f"{name} ({page.url})"
        if page.evaluate("document.documentElement.lang") != tag:
            problems.append(f"{where}: page language is {page.evaluate('document.documentElement.lang')}")
        if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
            problems.append(f"{where}: scrolls sideways ({page.evaluate('document.documentElement.scrollWidth')} px)")
        problems += [f"{where}: tap target too small: {s}" for s in page.evaluate(TARGETS)]
        problems += [f"{where}: placeholder cut off: {s}" for s in page.evaluate(PLACEHOLDERS)]
        page.add_script_tag(path=str(AXE))
        problems += [f"{where}: axe: {v}" for v in page.evaluate(AXE_RUN)]
    context.close()
    assert len(seen) == 11, seen
    assert not problems, "\n".join(problems)


def test_no_page_breaks_the_content_security_policy(browser, live):
    """The brand's stylesheet, the icons and the new parts of the pages need nothing inline."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    refused: list[str] = []
    page.on("console", lambda m: refused.append(f"{page.url}: {m.text}") if "Content Security Policy" in m.text
            else None)
    for name in tour(page, live, ""):
        assert page.evaluate("getComputedStyle(document.querySelector('header.top')).backgroundColor") \
            == "rgb(11, 87, 208)", name  # the brand colour arrived through /brand/<hash>.css
    page.close()
    assert refused == []


def test_a_result_opens_its_section_highlighted(browser, live):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(live["base"] + "/search?q=" + "密码想不起来了")
    assert page.locator(".best-answer mark").count() > 0  # the passage, matched words marked
    page.click(".best-answer .best-more")
    page.wait_for_url(re.compile(r"/articles/account/forgot-password#"))
    background = "el => getComputedStyle(el).backgroundColor"
    target = page.locator(".body h2:target")
    assert target.count() == 1 and target.inner_text() == "自己动手重置"
    plain = page.evaluate(background, page.locator("main").element_handle())
    assert page.evaluate(background, target.element_handle()) != plain
    # The section's own text is highlighted too, the next section is not.
    assert page.evaluate(background, page.locator(".body h2:target + ol").element_handle()) != plain
    other = page.locator(".body h2", has_text="请客服协助")
    assert page.evaluate(background, other.element_handle()) == plain
    assert page.evaluate("el => el.getBoundingClientRect().top", target.element_handle()) < 844  # scrolled to it
    page.close()


def test_the_switcher_keeps_the_article_in_every_locale_and_is_remembered(browser, live):
    """A reader on an article clicks each language in the footer: same article, translated or converted."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    page.goto(live["base"] + "/articles/account/forgot-password#自己动手重置")
    page.click(".locales a[hreflang=zh-Hant]")
    page.wait_for_url(re.compile(r"/zh-hant/articles/account/forgot-password"))
    assert page.inner_text("h1") == "忘記密碼怎麼重置"  # converted by OpenCC (密码→密碼), no translator
    page.click(".locales a[hreflang=en]")
    page.wait_for_url(re.compile(r"/en/articles/account/forgot-password"))
    assert page.inner_text("h1") == "How to reset a forgotten password"  # the hand-written translation
    # A later visit to an unprefixed page follows the remembered choice, not the browser's zh-CN.
    page.goto(live["base"] + "/categories/account")
    assert page.url.endswith("/en/categories/account")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.click(".locales a[hreflang=zh-Hans]")
    page.wait_for_url(re.compile(r"/categories/account$"))
    assert page.inner_text("h1") == "账号与安全"
    context.close()
