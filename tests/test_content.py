from pathlib import Path

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
    line = int(errors[0].split(":")[1])
    assert line in (3, 4, 5)  # the unclosed list starts on line 3
    assert "YAML error" in errors[0]


def test_missing_title_unknown_field_and_empty_body(tiny_articles):
    (tiny_articles / "account" / "bad.md").write_text(
        "---\nsummary: 没有标题\nauthor: 张三\n---\n\n", "utf-8")
    found = [p for p in problems_of(tiny_articles) if "bad.md" in p]
    assert "articles/account/bad.md:1: error: [title] missing required field" in found
    assert any(p.startswith("articles/account/bad.md:3: warning: [author] unknown field") for p in found)
    assert any("no body text" in p for p in found)


def test_wrong_types_are_reported_per_field(tiny_articles):
    (tiny_articles / "account" / "types.md").write_text(
        "---\ntitle: 类型\nquestions: 只有一句\norder: 第一\ndraft: maybe\nupdated: 昨天\n---\n\n## 正文\n内容\n",
        "utf-8")
    found = {p.field: p.line for p in load_articles(tiny_articles).errors if "types.md" in p.path}
    assert found == {"questions": 3, "order": 4, "draft": 5, "updated": 6}


def test_category_without_category_file(tiny_articles):
    write_tree(tiny_articles, {"billing/invoice.md": "---\ntitle: 发票\n---\n\n## 开票\n内容\n"})
    assert any("billing/_category.yml:1: error" in p and "has no _category.yml" in p
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
    assert errors == ["articles/contact/links.md:7: error: link to '../account/nope.md' points to no article (account/nope)"]


def test_article_outside_category_and_bad_file_name(tiny_articles):
    write_tree(tiny_articles, {"stray.md": "---\ntitle: 游离\n---\n正文\n",
                               "contact/Bad Name.md": "---\ntitle: 名字\n---\n正文\n"})
    found = problems_of(tiny_articles)
    assert any("stray.md:1: error" in p and "not inside a category" in p for p in found)
    assert any("Bad Name.md" in p and "lower-case" in p for p in found)


def test_check_command_exit_codes(tiny_articles):
    runner = CliRunner()
    ok = runner.invoke(main, ["check", str(tiny_articles)])
    assert ok.exit_code == 0, ok.output
    assert "0 error(s), 0 warning(s)" in ok.output
    (tiny_articles / "contact" / "x.md").write_text("---\ntitle: x\ncolour: red\n---\n\n## a\nb\n", "utf-8")
    warn = runner.invoke(main, ["check", str(tiny_articles)])
    assert warn.exit_code == 0 and "1 warning(s)" in warn.output
    assert runner.invoke(main, ["check", "--strict", str(tiny_articles)]).exit_code == 1
    (tiny_articles / "contact" / "y.md").write_text("no front matter\n", "utf-8")
    bad = runner.invoke(main, ["check", str(tiny_articles)])
    assert bad.exit_code == 1
    assert "articles/contact/y.md:1: error: missing YAML front matter" in bad.output


def test_shipped_articles_pass_check_without_warnings():
    root = Path(__file__).resolve().parents[1] / "articles"
    c = load_articles(root)
    assert [str(p) for p in c.problems] == []
    assert len([a for a in c.articles.values() if not a.draft]) >= 40
    assert len(c.categories) >= 6
