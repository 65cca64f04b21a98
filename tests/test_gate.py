"""check --search: questions the article does not answer, and articles that compete."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from helpcenter.cli import main

from .conftest import TINY, write_tree


def _check(root: Path, tmp_path: Path, *extra: str):
    return CliRunner().invoke(main, ["check", "--search", "--lang", "en", "--model", "hash",
                                     "--index", str(tmp_path / "index"), str(root), *extra])


def test_a_question_the_article_does_not_answer_is_reported_at_its_line(tmp_path: Path) -> None:
    files = dict(TINY)
    # Listed under the password article, but answered nowhere in it: only the email article talks about this.
    files["account/forgot-password.md"] = files["account/forgot-password.md"].replace(
        "  - 怎么找回登录密码\n", "  - 怎么找回登录密码\n          - 客服邮箱是多少24小时内回复\n")
    root = write_tree(tmp_path / "articles", files)
    result = _check(root, tmp_path)
    misses = [line for line in result.output.splitlines() if "does not find this article" in line]
    assert any(m.startswith("articles/account/forgot-password.md:7: warning: [questions]")
               and "客服邮箱是多少24小时内回复" in m for m in misses), result.output
    assert not any("密码想不起来了" in m for m in misses)  # answered by the body: not reported
    assert result.exit_code == 0
    assert _check(root, tmp_path, "--strict").exit_code == 1  # warnings fail a strict gate (CI)


def test_two_articles_that_win_each_others_questions_are_reported_as_competing(tmp_path: Path) -> None:
    files = dict(TINY)
    # Each body answers the other's question: a swap a writer would want to hear about.
    files["account/stolen-account.md"] = files["account/stolen-account.md"].replace(
        "尽快修改密码", "物流一直不更新时核对追踪号码。尽快修改密码")
    files["orders/track-order.md"] = files["orders/track-order.md"].replace(
        "  - 物流一直不更新\n", "  - 物流一直不更新\n          - 号被别人登了冻结账号\n").replace(
        "检查追踪号码", "号被别人登了请冻结账号。检查追踪号码")
    root = write_tree(tmp_path / "articles", files)
    out = _check(root, tmp_path).output
    assert "compete for the same questions" in out, out
    assert out.index("account/stolen-account.md") < out.index("orders/track-order.md")


def test_the_sites_live_index_is_not_touched(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "articles", TINY)
    _check(root, tmp_path)
    assert not (tmp_path / "index" / "current").exists()
    assert (tmp_path / "index" / "check" / "current").exists()
