import json

from click.testing import CliRunner

from helpcenter.cli import main


def run(args, settings):
    env = {"HELPCENTER_MODEL": "hash", "HELPCENTER_USER_DICT": ""}
    return CliRunner().invoke(main, args + ["--articles", settings.articles_dir, "--index", settings.index_dir]
                              if args[0] == "build-index" else args + ["--index", settings.index_dir], env=env)


def test_build_then_search_json(settings):
    built = run(["build-index", "--quiet"], settings)
    assert built.exit_code == 0, built.output
    assert "4 articles" in built.output and "embedded" in built.output
    again = run(["build-index", "--quiet"], settings)
    assert "index is up to date" in again.output
    out = run(["search", "物流一直不更新", "--json", "-k", "2"], settings)
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert 1 <= len(data["results"]) <= 2  # -k is an upper bound; search leaves out a far-behind tail
    assert set(data["results"][0]) == {"id", "title", "category", "score", "snippet", "confident"}
    assert data["results"][0]["id"] == "orders/track-order"


def test_build_with_broken_article_explains_and_fails(settings):
    from pathlib import Path
    (Path(settings.articles_dir) / "orders" / "broken.md").write_text("---\ntitle: [\n---\n", "utf-8")
    out = run(["build-index", "--quiet"], settings)
    assert out.exit_code == 1
    assert "orders/broken.md:2: error" in out.output
    assert "没有发布任何内容" in out.output
    en = run(["build-index", "--quiet", "--lang", "en"], settings)
    assert "1 error(s)" in en.output and "nothing was published" in en.output


def test_search_without_index_is_a_clear_error(settings):
    out = run(["search", "密码"], settings)
    assert out.exit_code == 1
    assert "build-index" in out.output


def test_eval_json(settings, tmp_path):
    run(["build-index", "--quiet"], settings)
    q = tmp_path / "q.jsonl"
    q.write_text('{"id": "a", "text": "物流一直不更新"}\n{"id": "b", "text": "邮箱"}\n', "utf-8")
    r = tmp_path / "r.tsv"
    r.write_text("a\torders/track-order\t1\nb\tcontact/email\t1\n", "utf-8")
    out = run(["eval", "--queries", str(q), "--qrels", str(r), "--json"], settings)
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    for key in ("mrr@10", "recall@1", "recall@3", "recall@10", "ndcg@10", "queries", "misses"):
        assert key in data
    assert data["queries"] == 2 and data["recall@10"] == 1.0


def _break(settings):
    from pathlib import Path
    root = Path(settings.articles_dir)
    (root / "orders" / "broken.md").write_text("---\ntitle: 坏\nupdated: 2026-02-30\ncolour: red\n---\n\n## 正文\n内容\n", "utf-8")
    (root / "account" / "notitle.md").write_text("---\nsummary: 没有标题\n---\n\n## 正文\n见[没有](nope.md)。\n", "utf-8")


def test_check_prints_every_finding_on_stdout_in_file_order_with_the_summary_last(settings):
    _break(settings)
    out = CliRunner().invoke(main, ["check", settings.articles_dir])
    assert out.exit_code == 1
    assert out.stderr == ""
    lines = out.stdout.splitlines()
    # The findings, then the count of translations per locale, then the verdict.
    assert lines[-2].startswith("译文：")
    findings = [(line.split(":")[0], int(line.split(":")[1])) for line in lines[:-2]]
    assert findings == sorted(findings) and len(findings) == 4
    assert any(": warning: [colour]" in line for line in lines[:-1])
    assert "3 个错误，1 个警告" in lines[-1]


def test_check_speaks_chinese_by_default_and_english_on_request(settings):
    _break(settings)
    zh = CliRunner().invoke(main, ["check", settings.articles_dir])
    en = CliRunner().invoke(main, ["check", "--lang", "en", settings.articles_dir])
    env = CliRunner().invoke(main, ["check", settings.articles_dir], env={"HELPCENTER_CHECK_LANG": "en"})
    assert "articles/account/notitle.md:1: error: [title] 缺少必填字段" in zh.stdout
    assert "articles/account/notitle.md:1: error: [title] missing required field" in en.stdout
    assert en.stdout == env.stdout
    assert "3 error(s), 1 warning(s)" in en.stdout.splitlines()[-1]


def test_build_index_prints_the_same_problem_lines_as_check_and_keeps_the_live_index(settings):
    from pathlib import Path

    from helpcenter.engine.build import live_build_id

    assert run(["build-index", "--quiet"], settings).exit_code == 0
    before = live_build_id(Path(settings.index_dir))
    _break(settings)
    for lang in ("zh", "en"):
        checked = CliRunner().invoke(main, ["check", "--lang", lang, settings.articles_dir])
        built = run(["build-index", "--quiet", "--lang", lang], settings)
        assert built.exit_code == 1
        errors = [line for line in checked.stdout.splitlines() if ": error: " in line]
        assert len(errors) == 3
        for line in errors:
            assert line in built.stderr.splitlines()
    assert live_build_id(Path(settings.index_dir)) == before


def test_problem_messages_exist_in_both_languages_with_the_same_blanks():
    import string

    from helpcenter.engine.problems import MESSAGES

    def blanks(text):
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    for code, entry in MESSAGES.items():
        assert entry.severity in ("error", "warning"), code
        assert entry.zh and entry.en, code
        assert blanks(entry.zh) == blanks(entry.en), code


def test_articles_folder_as_argument_or_option_on_check_and_build_index(settings, tmp_path):
    env = {"HELPCENTER_MODEL": "hash", "HELPCENTER_USER_DICT": "", "HELPCENTER_INDEX_DIR": str(tmp_path / "ix")}
    runner = CliRunner()
    folder = settings.articles_dir
    for args in (["check", folder], ["check", "--articles", folder], ["check", folder, "--articles", folder]):
        assert runner.invoke(main, args, env=env).exit_code == 0, args
    for args in (["build-index", "--quiet", folder], ["build-index", "--quiet", "--articles", folder],
                 ["build-index", "--quiet", folder, "--articles", folder + "/"]):
        out = runner.invoke(main, args, env=env)
        assert out.exit_code == 0, (args, out.output)
    for command in ("check", "build-index"):
        out = runner.invoke(main, [command, folder, "--articles", str(tmp_path)], env=env)
        assert out.exit_code == 2
        assert folder in out.stderr and str(tmp_path) in out.stderr


def test_serve_defaults_to_port_8000_like_scripts_run():
    from helpcenter.cli.ops import serve

    port = next(p for p in serve.params if p.name == "port")
    assert port.default == 8000
    assert "8000" in CliRunner().invoke(main, ["serve", "--help"]).output


def test_readme_command_table_lists_every_command():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    table = readme.split("### Command line", 1)[1].split("\n\n", 2)[1]
    for name in main.commands:
        assert f"`helpcenter {name}" in table, name
    assert "check [DIR] [--articles DIR]" in table and "build-index [DIR] [--articles DIR]" in table
