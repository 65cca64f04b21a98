"""Home, category and article pages and the "was this helpful?" vote (helpcenter.web.browse)."""

import re

import pytest
from sqlalchemy import select

from helpcenter.db import Feedback

from .conftest import csrf_from

FEEDBACK = "/articles/account/forgot-password/feedback"


def votes(app) -> list[tuple[str, bool, str | None]]:
    with app.extensions["hc_storage"].session() as s:
        return [(f.article_id, f.helpful, f.comment) for f in s.scalars(select(Feedback).order_by(Feedback.id))]


def test_empty_comment_after_no_is_no_comment_and_the_vote_stands(app, client):
    token = csrf_from(client)
    client.post(FEEDBACK, data={"csrf_token": token, "helpful": "no"})
    r = client.post(FEEDBACK, data={"csrf_token": token, "helpful": "comment", "comment": "  "})
    assert r.status_code == 302 and "feedback=done" in r.headers["Location"]
    assert "感谢您的反馈" in client.get(r.headers["Location"]).get_data(as_text=True)
    assert votes(app) == [("account/forgot-password", False, None)]


def test_comment_from_a_feedback_link_without_a_vote_records_one_no_vote(app, client):
    # e.g. /articles/...?feedback=no opened from a link, in a session that never voted
    page = client.get("/articles/account/forgot-password?feedback=no").get_data(as_text=True)
    assert "还缺少什么" in page
    token = csrf_from(client)
    r = client.post(FEEDBACK, data={"csrf_token": token, "helpful": "comment", "comment": "没说收不到短信怎么办"})
    assert r.status_code == 302 and "feedback=done" in r.headers["Location"]
    assert votes(app) == [("account/forgot-password", False, "没说收不到短信怎么办")]
    # Sending the box again corrects the comment instead of counting a second vote.
    client.post(FEEDBACK, data={"csrf_token": token, "helpful": "comment", "comment": "也没说邮箱收不到怎么办"})
    assert votes(app) == [("account/forgot-password", False, "也没说邮箱收不到怎么办")]
    assert client.get("/contact").status_code == 200
    assert "忘记密码怎么重置" in client.get("/contact").get_data(as_text=True)  # marked unhelpful in the visit


def test_empty_comment_from_a_feedback_link_without_a_vote_counts_as_no(app, client):
    token = csrf_from(client)
    r = client.post(FEEDBACK, data={"csrf_token": token, "helpful": "comment", "comment": ""})
    assert r.status_code == 302 and "feedback=done" in r.headers["Location"]
    assert votes(app) == [("account/forgot-password", False, None)]


def test_an_unknown_vote_value_is_still_refused(client):
    r = client.post(FEEDBACK, data={"csrf_token": csrf_from(client), "helpful": "maybe"})
    assert r.status_code == 400


@pytest.mark.parametrize("path", ["/categories/account", "/articles/account/forgot-password", "/contact",
                                  "/articles/account/nope"])
def test_every_page_but_home_has_a_search_box_in_the_header(client, path):
    html = client.get(path).get_data(as_text=True)
    header = re.search(r'<header class="top">(.*?)</header>', html, re.S).group(1)
    assert 'role="search"' in header and 'name="q"' in header and 'action="/search"' in header
    assert html.count('id="q"') == 1  # one box per page: ids stay unique for the suggestions


def test_home_and_search_pages_keep_their_own_single_box(client):
    for path in ("/", "/search?q=密码"):
        html = client.get(path).get_data(as_text=True)
        assert html.count('id="q"') == 1, path
        assert 'role="search"' not in re.search(r'<header class="top">(.*?)</header>', html, re.S).group(1)


@pytest.mark.parametrize("path, target", [
    ("/articles/account/forgot-password/", "/articles/account/forgot-password"),
    ("/categories/account/", "/categories/account"),
    ("/articles/account/forgot-password/?feedback=no", "/articles/account/forgot-password?feedback=no"),
    ("/categories/account/?a=1&b=%E5%AF%86", "/categories/account?a=1&b=%E5%AF%86"),
])
def test_a_trailing_slash_redirects_to_the_canonical_url(client, path, target):
    r = client.get(path)
    assert r.status_code in (301, 308)
    assert r.headers["Location"] == target
    assert client.get(target).status_code == 200


PUBLIC = ["/", "/categories/account", "/articles/account/forgot-password", "/search", "/search?q=密码",
          "/contact", "/articles/account/nope", "/articles/account/forgot-password/", "/healthz",
          "/api/categories", "/api/suggest?q=密码"]


@pytest.mark.parametrize("path", PUBLIC)
def test_head_answers_like_get_on_every_public_page(make_app, path):
    get_status = make_app().test_client().get(path).status_code
    r = make_app().test_client().head(path)
    assert r.status_code == get_status
    assert r.get_data() == b""


def test_head_is_not_counted_as_a_view(app, client):
    for _ in range(3):
        client.head("/articles/account/forgot-password")
    assert "account/forgot-password" not in app.extensions["hc_storage"].popular(6)
    client.get("/articles/account/forgot-password")
    assert "account/forgot-password" in app.extensions["hc_storage"].popular(6)


def test_head_on_a_search_result_link_redirects_without_recording_a_click(app, client):
    import re

    from sqlalchemy import select

    from helpcenter.db import SearchClick

    html = client.get("/search?q=忘记密码").get_data(as_text=True)
    link = re.findall(r'class="result-title" href="([^"]+)"', html)[0]
    assert "?from=" in link

    def clicks() -> list:
        app.extensions["hc_search_log"].flush()
        with app.extensions["hc_storage"].session() as s:
            return list(s.scalars(select(SearchClick)))

    r = client.head(link)
    assert r.status_code == 302 and r.headers["Location"] == link.split("?")[0]
    assert clicks() == []  # a link checker or preview fetch is not a reader choosing a result
    client.get(link)
    assert len(clicks()) == 1


def test_home_offers_popular_questions_as_chips_that_run_the_search(app, client):
    for _ in range(3):
        client.get("/articles/orders/track-order")  # the most read article comes first
    html = client.get("/").text
    chips = re.findall(r'<a class="chip" href="([^"]+)"[^>]*>([^<]+)</a>', html)
    assert chips[0] == ("/search?q=%E7%89%A9%E6%B5%81%E4%B8%80%E7%9B%B4%E4%B8%8D%E6%9B%B4%E6%96%B0", "物流一直不更新")
    assert "密码想不起来了" in [text for _, text in chips]
    found = client.get(chips[0][0]).text  # the chip's search runs and finds its article
    assert re.search(r'class="result-title" href="/articles/orders/track-order[^"]*">订单无法追踪怎么办<', found)


def test_category_icons_show_on_home_cards_and_the_category_page(make_app, built):
    from pathlib import Path

    from helpcenter.engine.build import build_index

    path = Path(built.articles_dir) / "orders" / "_category.yml"
    path.write_text(path.read_text("utf-8") + "icon: delivery\n", "utf-8")
    build_index(built)
    client = make_app().test_client()
    assert client.get("/api/categories").status_code == 200
    home = client.get("/").text
    card = re.search(r'<a href="/categories/orders">(.*?)</a></li>', home, re.S).group(1)
    assert '<span class="card-icon"><svg class="icon"' in card and 'aria-hidden="true"' in card
    assert "card-icon" not in re.search(r'<a href="/categories/account">(.*?)</a></li>', home, re.S).group(1)
    page = client.get("/categories/orders").text
    assert re.search(r'<h1 class="with-icon"><span class="title-icon"><svg class="icon"[^>]*>.*</svg></span>订单与物流</h1>',
                     page)
