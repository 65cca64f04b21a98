"""Shared fixtures: tiny real article folders and indexes built in tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from helpcenter.config import Settings

TINY = {
    "account/_category.yml": """
        name: 账号与安全
        description: 登录、密码和账号保护。
        order: 1
        """,
    "account/forgot-password.md": """
        ---
        title: 忘记密码怎么重置
        summary: 通过邮箱或短信验证后设置新密码。
        questions:
          - 密码想不起来了
          - 怎么找回登录密码
        tags: [密码]
        order: 1
        updated: 2026-11-01
        ---

        忘记密码时可以自己重置。

        ## 自己动手重置

        1. 在登录页点“找回密码”。
        2. 通过邮箱或短信完成验证。
        3. 设置新密码。

        ## 请客服协助

        如果收不到验证码，请[联系客服](../contact/email.md)，准备好绑定的手机号。
        """,
    "account/stolen-account.md": """
        ---
        title: 账号被盗怎么办
        summary: 先改密码，再请客服冻结账号。
        questions:
          - 号被别人登了
        order: 2
        ---

        ## 马上要做的事

        尽快修改密码，并请客服冻结账号，防止盗号者继续操作。之后开启设备锁和登录保护。
        """,
    "contact/_category.yml": """
        name: 联系客服
        description: 找到客服的各种方式。
        order: 2
        """,
    "contact/email.md": """
        ---
        title: 通过电子邮件联系客服
        summary: 不紧急的复杂问题适合发邮件，一般24小时内回复。
        questions:
          - 客服邮箱是多少
        order: 1
        ---

        ## 什么时候发邮件

        问题不紧急、需要详细说明时，发邮件给客服，附上截图，一般24小时内回复。
        """,
    "orders/_category.yml": """
        name: 订单与物流
        description: 订单追踪和延迟。
        order: 3
        """,
    "orders/track-order.md": """
        ---
        title: 订单无法追踪怎么办
        summary: 核对追踪号码，再带上订单号联系客服。
        questions:
          - 物流一直不更新
        order: 1
        ---

        ## 先自己核对

        检查追踪号码是否正确，是否在对应的物流网站查询。

        ## 联系客服

        提供订单号、追踪号码和下单日期，客服会查询物流状态。
        """,
    "orders/draft-returns.md": """
        ---
        title: 退货流程（草稿）
        draft: true
        ---

        ## 还没写完

        退货说明。
        """,
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")
    return root


@pytest.fixture
def tiny_articles(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "articles", TINY)


@pytest.fixture
def settings(tmp_path: Path, tiny_articles: Path) -> Settings:
    return Settings(articles_dir=str(tiny_articles), index_dir=str(tmp_path / "index"),
                    model="hash", user_dict="").validate()


@pytest.fixture
def built(settings: Settings) -> Settings:
    from helpcenter.engine.build import build_index

    build_index(settings)
    return settings


@pytest.fixture
def make_app(tmp_path: Path, built: Settings):
    """App factory over the tiny index with the hash embedder; overrides go to Settings."""
    from helpcenter.engine.embed import HashEmbedder
    from helpcenter.engine.search import Searcher
    from helpcenter.web import create_app

    def make(test_config: dict | None = None, **overrides):
        # No background outbox thread unless a test asks for one: it would outlive the test.
        values = {"instance_dir": str(tmp_path / "instance"), "rate_limit_forms": "1000 per minute",
                  "rate_limit_api": "1000 per minute", "outbox_worker": 0}
        values.update(overrides)
        s = built.with_overrides(**values)
        return create_app({"TESTING": True, **(test_config or {})}, settings=s,
                          searcher=Searcher(s, embedder=HashEmbedder(256)))

    return make


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_from(client) -> str:
    return client.get("/api/csrf").get_json()["csrf_token"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium (never a downloaded browser), started once for the browser tests."""
    import os

    from helpcenter.web.live import CHROMIUM, chromium

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: scripts/install --test installs Debian's chromium")
    with chromium() as b:
        yield _ChineseReader(b)


class _ChineseReader:
    """The browser as our usual reader has it: asking for 简体 (zh-CN) unless a test says otherwise.

    Headless Chromium asks for en-US, which the site rightly answers in English."""

    def __init__(self, browser) -> None:
        self._browser = browser

    def new_context(self, **options):
        options.setdefault("locale", "zh-CN")
        return self._browser.new_context(**options)

    def new_page(self, **options):
        options.setdefault("locale", "zh-CN")
        return self._browser.new_page(**options)

    def __getattr__(self, name):
        return getattr(self._browser, name)


@pytest.fixture
def site(app):
    """The app served on a loopback port, for the browser."""
    from helpcenter.web.live import serve_in_thread

    with serve_in_thread(app) as base:
        yield base

