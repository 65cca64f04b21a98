from helpcenter.engine.content import Article
from helpcenter.engine.passages import MAX_PASSAGE_CHARS, article_passages, sections


def make(body: str, questions=None) -> Article:
    return Article(id="c/a", category="c", path="c/a.md", title="标题", body=body, body_line=5,
                   summary="摘要", questions=questions or [])


def test_title_questions_and_sections_become_passages():
    body = "引言一句。\n\n## 第一步\n\n做这个。\n\n### 细节\n\n更多。\n\n## 第二步\n\n做那个。\n"
    ps = article_passages(make(body, ["问法一", "问法二"]))
    assert [(p.kind, p.heading) for p in ps] == [
        ("title", ""), ("question", ""), ("question", ""),
        ("section", ""), ("section", "第一步"), ("section", "第一步 › 细节"), ("section", "第二步"),
    ]
    assert ps[0].text == "标题\n摘要"
    assert ps[5].text == "标题 › 第一步 › 细节\n更多。"
    assert ps[5].anchor == "细节"


def test_markdown_markup_is_removed_and_code_headings_ignored():
    body = "## 步骤\n\n1. 点 **设置**\n2. 打开[帮助](x.md)\n\n```\n# 不是标题\n```\n"
    ps = [p for p in article_passages(make(body)) if p.kind == "section"]
    assert len(ps) == 1
    assert "点 设置" in ps[0].text and "打开帮助" in ps[0].text and "**" not in ps[0].text
    assert "# 不是标题" in ps[0].text


def test_long_sections_are_split_at_paragraphs():
    para = "这是一个很长的段落。" * 20  # 200 characters
    ps = [p for p in article_passages(make("## 长\n\n" + "\n\n".join([para] * 5))) if p.kind == "section"]
    assert len(ps) >= 3
    assert all(len(p.text.split("\n", 1)[1]) <= MAX_PASSAGE_CHARS for p in ps)
    assert all(p.heading == "长" for p in ps)


def test_passage_key_changes_only_with_text():
    a = article_passages(make("## 一\n\n内容"))
    b = article_passages(make("## 一\n\n内容"))
    c = article_passages(make("## 一\n\n改过的内容"))
    assert [p.key for p in a] == [p.key for p in b]
    assert a[-1].key != c[-1].key and a[0].key == c[0].key


def test_duplicate_headings_get_unique_anchors():
    secs = sections("## 步骤\n\na\n\n## 步骤\n\nb\n")
    assert [s[1] for s in secs] == ["步骤", "步骤_1"]


def test_passages_do_not_repeat_each_other():
    question_only = Article(id="c/q", category="c", path="", title="利息怎么算", body="利息怎么算\n", body_line=5)
    assert [p.kind for p in article_passages(question_only)] == ["title"]
    answer = "保险单的现金价值可以借出。借款利息按年计算，不还清会减少赔付。"
    fragment = Article(id="c/a", category="c", path="", title="保险单的现金价值可以借出", body=answer, body_line=5)
    assert [p.kind for p in article_passages(fragment)] == ["section"]
