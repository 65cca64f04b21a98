from pathlib import Path

import pytest
from click.testing import CliRunner

from helpcenter.cli import main
from helpcenter.engine.content import load_articles

from .conftest import write_tree


def problems_of(root: Path) -> list[str]:
    return [str(p) for p in load_articles(root).problems]


def test_shipped_tiny_set_is_clean(tiny_articles):
    c = load_articles(tiny_articles)
    assert c.problems == []
    assert set(c.articles) == {"account/forgot-password", "account/stolen-account", "contact/email",
                               "orders/track-order", "orders/draft-returns"}
    assert c.articles["orders/draft-returns"].draft is True
    assert c.articles["account/forgot-password"].questions == ["密码想不起来了", "怎么找回登录密码"]


def test_yaml_error_points_at_file_and_line(tiny_articles):
    (tiny_articles / "account" / "broken.md").write_text(
        "---\ntitle: 好\nsummary: [未闭合\nquestions:\n  - a\n---\n正文\n", "utf-8")
    errors = [p for p in problems_of(tiny_articles) if "broken.md" in p]
    assert len(errors) == 1
    assert errors[0].startswith("articles/account/broken.md:")
    assert errors[0] == "articles/account/broken.md:3: error: 这一行开始的括号 [ 没有闭合（缺少 ]）"


def test_missing_title_unknown_field_and_empty_body(tiny_articles):
    (tiny_articles / "account" / "bad.md").write_text(
        "---\nsummary: 没有标题\nauthor: 张三\n---\n\n", "utf-8")
    found = [p for p in problems_of(tiny_articles) if "bad.md" in p]
    assert "articles/account/bad.md:1: error: [title] 缺少必填字段" in found
    assert any(p.startswith("articles/account/bad.md:3: warning: [author] 未知字段 'author'") for p in found)
    assert any("文章没有正文" in p for p in found)


def test_wrong_types_are_reported_per_field(tiny_articles):
    (tiny_articles / "account" / "types.md").write_text(
        "---\ntitle: 类型\nquestions: 只有一句\norder: 第一\ndraft: maybe\nupdated: 昨天\n---\n\n## 正文\n内容\n",
        "utf-8")
    found = {p.field: p.line for p in load_articles(tiny_articles).errors if "types.md" in p.path}
    assert found == {"questions": 3, "order": 4, "draft": 5, "updated": 6}


def test_category_without_category_file(tiny_articles):
    write_tree(tiny_articles, {"billing/invoice.md": "---\ntitle: 发票\n---\n\n## 开票\n内容\n"})
    assert any("billing/_category.yml:1: error" in p and "缺少 _category.yml" in p
               for p in problems_of(tiny_articles))


def test_duplicate_question_names_both_files_and_line(tiny_articles):
    write_tree(tiny_articles, {"contact/dup.md": "---\ntitle: 重复\nquestions:\n  - 其他问题\n  - 密码想不起来了\n---\n\n## 正文\n内容\n"})
    dup = [p for p in load_articles(tiny_articles).errors if p.field == "questions"]
    assert len(dup) == 1
    assert dup[0].line == 5
    assert "account/forgot-password.md" in dup[0].message or "contact/dup.md" in dup[0].message


def test_broken_internal_link_reports_body_line(tiny_articles):
    write_tree(tiny_articles, {"contact/links.md": "---\ntitle: 链接\n---\n\n## 正文\n见[邮件](email.md)。\n又见[不存在](../account/nope.md)。\n"})
    errors = [str(p) for p in load_articles(tiny_articles).errors]
    assert errors == ["articles/contact/links.md:7: error: 链接 '../account/nope.md' 指向的文章不存在（account/nope）"]
    english = [p.format("en") for p in load_articles(tiny_articles).errors]
    assert english == ["articles/contact/links.md:7: error: link to '../account/nope.md' points to no article (account/nope)"]


def test_article_outside_category_and_bad_file_name(tiny_articles):
    write_tree(tiny_articles, {"stray.md": "---\ntitle: 游离\n---\n正文\n",
                               "contact/Bad Name.md": "---\ntitle: 名字\n---\n正文\n"})
    found = problems_of(tiny_articles)
    assert any("stray.md:1: error" in p and "文章不在分类文件夹里" in p for p in found)
    assert any("Bad Name.md" in p and "只能用小写字母" in p for p in found)


def test_check_command_exit_codes(tiny_articles):
    runner = CliRunner()
    ok = runner.invoke(main, ["check", str(tiny_articles)])
    assert ok.exit_code == 0, ok.output
    assert "0 个错误，0 个警告" in ok.output
    (tiny_articles / "contact" / "x.md").write_text("---\ntitle: x\ncolour: red\n---\n\n## a\nb\n", "utf-8")
    warn = runner.invoke(main, ["check", str(tiny_articles)])
    assert warn.exit_code == 0 and "1 个警告" in warn.output
    assert runner.invoke(main, ["check", "--strict", str(tiny_articles)]).exit_code == 1
    (tiny_articles / "contact" / "y.md").write_text("no front matter\n", "utf-8")
    bad = runner.invoke(main, ["check", str(tiny_articles)])
    assert bad.exit_code == 1
    assert "articles/contact/y.md:1: error: 缺少 YAML 头信息" in bad.output


def test_shipped_articles_pass_check_without_warnings():
    root = Path(__file__).resolve().parents[1] / "articles"
    c = load_articles(root)
    assert [str(p) for p in c.problems] == []
    assert len([a for a in c.articles.values() if not a.draft]) >= 40
    assert len(c.categories) >= 6


# --- values YAML cannot turn into what it looks like (#9) ---------------------------------

def test_impossible_date_is_a_field_error_at_its_line(tiny_articles):
    (tiny_articles / "account" / "date.md").write_text(
        "---\ntitle: 日期\nupdated: 2026-02-30\n---\n\n## 正文\n内容\n", "utf-8")
    found = [p for p in load_articles(tiny_articles).problems if "date.md" in p.path]
    assert [(p.line, p.severity, p.field) for p in found] == [(3, "error", "updated")]
    assert "2026-02-30" in str(found[0])


def test_other_unconstructible_values_are_field_errors(tiny_articles):
    write_tree(tiny_articles, {
        "account/values.md": "---\ntitle: 值\norder: !!int 第一\nquestions:\n  - 正常问法\n  - 2026-13-01\n---\n\n## 正文\n内容\n",
        "orders/_category.yml": "name: 订单\norder: 2026-04-31\n",
    })
    found = {(p.path.split("/", 1)[1], p.line, p.field) for p in load_articles(tiny_articles).errors}
    assert found == {("account/values.md", 3, "order"), ("account/values.md", 6, "questions"),
                     ("orders/_category.yml", 2, "order")}


def test_impossible_date_fails_check_and_build_without_traceback(settings):
    from helpcenter.engine.build import BuildError, build_index

    (Path(settings.articles_dir) / "account" / "date.md").write_text(
        "---\ntitle: 日期\nupdated: 2026-02-30\n---\n\n## 正文\n内容\n", "utf-8")
    out = CliRunner().invoke(main, ["check", settings.articles_dir])
    assert out.exit_code == 1 and isinstance(out.exception, SystemExit), out.output
    assert "articles/account/date.md:3: error: [updated]" in out.output
    with pytest.raises(BuildError) as exc:
        build_index(settings)
    assert [(p.path, p.line) for p in exc.value.problems] == [("articles/account/date.md", 3)]


def test_quoted_date_string_is_checked_too(tiny_articles):
    (tiny_articles / "account" / "date.md").write_text(
        "---\ntitle: 日期\nupdated: \"2026-02-30\"\n---\n\n## 正文\n内容\n", "utf-8")
    assert [(p.line, p.field) for p in load_articles(tiny_articles).errors] == [(3, "updated")]


def test_byte_order_mark_and_bad_category_encoding(tiny_articles):
    (tiny_articles / "account" / "bom.md").write_text("\ufeff---\ntitle: 记事本保存的\n---\n\n## 正文\n内容\n", "utf-8")
    (tiny_articles / "orders" / "_category.yml").write_bytes("name: 订单\n".encode("gbk"))
    found = problems_of(tiny_articles)
    assert not any("bom.md" in p for p in found)
    assert [p.split(": ")[0] for p in found] == ["articles/orders/_category.yml:1"]


# --- where a YAML syntax error starts (#11) --------------------------------------------------

@pytest.mark.parametrize("front, line", [
    ('title: "没有结束的引号\nsummary: 好\nquestions:\n  - 一\n  - 二\ntags: [甲]\norder: 1\n', 2),
    ("title: 好\nsummary: [没有结束的括号\nquestions:\n  - 一\n  - 二\norder: 1\n", 3),
    ("title: 好\nsummary: 注意: 冒号\norder: 1\n", 3),
    ("title: 好\nquestions:\n  - 一\n - 二\norder: 1\n", 5),
])
def test_yaml_error_is_reported_where_it_starts(tiny_articles, front, line):
    (tiny_articles / "account" / "broken.md").write_text(f"---\n{front}---\n\n## 正文\n内容\n", "utf-8")
    found = [p for p in load_articles(tiny_articles).problems if "broken.md" in p.path]
    assert [(p.line, p.severity) for p in found] == [(line, "error")]


# --- links: anchors, site links, files; one root cause (#12, #13) ---------------------------

LINKS = {
    "account/_category.yml": "name: 账号\n",
    "account/login-failure.md": "---\ntitle: 登录失败\n---\n\n## 密码错误\n内容\n\n### Step **two**\n更多\n",
    "account/guide.md": (
        "---\ntitle: 指南\n---\n\n## 开始\n\n"
        "见[密码错误](login-failure.md#密码错误)和[第二步](login-failure.md#step-two)。\n"  # line 7: fine
        "见[不存在的小节](login-failure.md#no-such-section)。\n"  # 8
        "跳到[本文开头](#开始)，跳到[本文没有的](#没有)。\n"  # 9
        "见[站内链接](/articles/account/login-failure)和[站内锚点](/articles/account/login-failure#密码错误)。\n"  # 10
        "见[站内不存在](/articles/account/nope)和[分类](/categories/account)和[没有的分类](/categories/nope)。\n"  # 11
        "![截图](images/login.png) ![没有的图](images/missing.png) [表格](../files/form.pdf)\n"  # 12
        "[外部](https://example.com/x.md) [邮件](mailto:a@b.cn) `[代码](nope.md)`\n"  # 13
        "[引用]: reference-target.md\n"  # 14
        "\n```\n[代码块](nope.md)\n```\n"
    ),
    "account/images/login.png": "png",
}


def _real_png(path: Path, size: tuple[int, int] = (8, 6)) -> None:
    from PIL import Image

    Image.new("RGB", size, "white").save(path)


def test_dead_anchors_site_links_and_missing_files_are_reported(tmp_path):
    root = write_tree(tmp_path / "articles", LINKS)
    _real_png(root / "account/images/login.png")  # a real image is published: nothing to report
    found = sorted((p.line, p.severity) for p in load_articles(root).problems)
    assert found == [(8, "error"), (9, "error"), (11, "error"), (11, "error"), (12, "error"), (12, "error"),
                     (14, "error")]
    text = "\n".join(problems_of(root))
    for target in ("login-failure.md#no-such-section", "#没有", "/articles/account/nope", "/categories/nope",
                   "images/missing.png", "../files/form.pdf", "reference-target.md"):
        assert target in text


def test_an_image_readers_could_not_see_is_an_error_at_its_line(tmp_path):
    # "png" is not an image: the page would show a broken picture.
    root = write_tree(tmp_path / "articles", LINKS)
    (bad,) = [p for p in load_articles(root).problems if p.code == "unreadable_image"]
    assert bad.line == 12 and bad.severity == "error" and "images/login.png" in str(bad)


def test_dead_anchor_message_lists_the_sections_there_are(tmp_path):
    root = write_tree(tmp_path / "articles", LINKS)
    anchor = next(p for p in load_articles(root).problems if p.line == 8)
    assert "#密码错误" in str(anchor) and "#step-two" in str(anchor)


def test_broken_article_is_reported_once_not_in_every_file_that_links_to_it(tiny_articles):
    (tiny_articles / "contact" / "email.md").write_text("---\ntitle: [坏了\n---\n\n## 正文\n内容\n", "utf-8")
    found = problems_of(tiny_articles)
    assert len(found) == 1 and found[0].startswith("articles/contact/email.md:2: error:")


def test_category_whose_only_article_is_broken_gets_no_extra_warning(tiny_articles):
    (tiny_articles / "contact" / "email.md").write_text("no front matter\n", "utf-8")
    (tiny_articles / "account" / "forgot-password.md").write_text(
        (tiny_articles / "account" / "forgot-password.md").read_text("utf-8").replace("../contact/email.md", "stolen-account.md"),
        "utf-8")
    assert [p.split(": ")[0] for p in problems_of(tiny_articles)] == ["articles/contact/email.md:1"]


def test_category_icon_is_checked_against_the_built_in_set(tiny_articles):
    write_tree(tiny_articles, {
        "account/_category.yml": "name: 账号\ndescription: 登录\nicon: account\n",
        "orders/_category.yml": "name: 订单\norder: 2\nicon: rocket\n",
        "contact/_category.yml": "name: 联系\nicon: [phone]\n",
    })
    c = load_articles(tiny_articles)
    assert c.categories["account"].icon == "account"
    found = sorted((p.path, p.line, p.field, p.severity, p.code) for p in c.problems)
    assert found == [("articles/contact/_category.yml", 2, "icon", "error", "not_text"),
                     ("articles/orders/_category.yml", 3, "icon", "error", "unknown_icon")]
    out = CliRunner().invoke(main, ["check", str(tiny_articles), "--lang", "en"])
    assert "articles/orders/_category.yml:3: error: [icon] no icon is named 'rocket' (available: account," in out.output


def test_every_shipped_category_names_an_icon():
    shipped = load_articles(Path(__file__).resolve().parents[1] / "articles")
    assert shipped.errors == []
    assert all(cat.icon for cat in shipped.categories.values())
