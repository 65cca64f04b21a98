import json

from click.testing import CliRunner

from helpcenter.cli import main
from helpcenter.engine.content import load_articles
from helpcenter.engine.importer import article_slug


def test_jsonl_and_csv_become_clean_articles(tmp_path):
    src = tmp_path / "faq.jsonl"
    src.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in [
        {"id": "faq-001", "title": "怎么退款: 步骤", "text": "在订单页点申请退款。"},
        {"id": "faq-002", "title": "", "text": "密码忘了可以在登录页找回。还可以联系客服。"},
        {"id": "Q 3", "title": "只有标题", "text": ""},
    ]), "utf-8")
    csv_src = tmp_path / "faq.csv"
    csv_src.write_text("id,title,text\nc1,发票,\"开发票, 请在订单页申请\"\n", "utf-8")
    runner = CliRunner()
    out = tmp_path / "articles"
    r = runner.invoke(main, ["import", str(src), "--category", "faq", "--name", "常见问题", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert runner.invoke(main, ["import", str(csv_src), "--category", "billing", "--out", str(out)]).exit_code == 0
    c = load_articles(out)
    assert [str(p) for p in c.errors] == []
    assert c.categories["faq"].name == "常见问题"
    assert c.articles["faq/faq-001"].title == "怎么退款: 步骤"
    assert c.articles["faq/faq-002"].title == "密码忘了可以在登录页找回"
    assert c.articles[f"faq/{article_slug('Q 3')}"].body.strip() == "只有标题"
    assert "开发票, 请在订单页申请" in c.articles["billing/c1"].body


def test_bad_input_names_file_and_line(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": "a", "text": "x"}\n{not json\n', "utf-8")
    r = CliRunner().invoke(main, ["import", str(src), "--category", "faq", "--out", str(tmp_path / "out")])
    assert r.exit_code == 1 and "bad.jsonl:2: not valid JSON" in r.output
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "A", "text": "x"}\n{"id": "a", "text": "y"}\n', "utf-8")
    r = CliRunner().invoke(main, ["import", str(dup), "--category", "faq", "--out", str(tmp_path / "out2")])
    assert r.exit_code == 1 and "same article" in r.output


def test_import_writes_into_the_configured_articles_folder(tmp_path, monkeypatch):
    # Like check and build-index: the folder comes from the settings unless --articles says otherwise.
    src = tmp_path / "faq.jsonl"
    src.write_text(json.dumps({"id": "1", "title": "发票怎么开", "text": "在订单页申请电子发票。"}, ensure_ascii=False) + "\n",
                   "utf-8")
    monkeypatch.setenv("HELPCENTER_ARTICLES_DIR", str(tmp_path / "site-articles"))
    r = CliRunner().invoke(main, ["import", str(src), "--category", "billing"])
    assert r.exit_code == 0, r.output
    assert list((tmp_path / "site-articles" / "billing").glob("*.md"))
    r = CliRunner().invoke(main, ["import", str(src), "--category", "billing", "--articles", str(tmp_path / "other")])
    assert r.exit_code == 0 and list((tmp_path / "other" / "billing").glob("*.md")), r.output

