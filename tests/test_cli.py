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
    assert len(data["results"]) == 2
    assert set(data["results"][0]) == {"id", "title", "category", "score", "snippet", "confident"}
    assert data["results"][0]["id"] == "orders/track-order"


def test_build_with_broken_article_explains_and_fails(settings):
    from pathlib import Path
    (Path(settings.articles_dir) / "orders" / "broken.md").write_text("---\ntitle: [\n---\n", "utf-8")
    out = run(["build-index", "--quiet"], settings)
    assert out.exit_code == 1
    assert "orders/broken.md:2: error" in out.output
    assert "nothing was published" in out.output


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
