from helpcenter.engine.passages import sections
from helpcenter.engine.render import render_article


def test_script_and_dangerous_attributes_are_removed():
    body = ('## 标题\n\n<script>alert(1)</script>\n\n<img src=x onerror="alert(2)">\n\n'
            '[点我](javascript:alert(3)) <a href="#" onclick="alert(4)">x</a>\n\n<iframe src="//evil"></iframe>\n')
    html = render_article(body, "c/a").html
    for bad in ("<script", "onerror", "javascript:", "onclick", "<iframe", "<img"):
        assert bad not in html


def test_tables_code_and_internal_links():
    body = ("## 表\n\n| 问题 | 材料 |\n|---|---|\n| 支付 | 订单号 |\n\n```\ncode <b>\n```\n\n"
            "见[忘记密码](../account/forgot-password.md#自己动手重置)和[外部](https://example.com)。\n")
    html = render_article(body, "prepare/checklist").html
    assert "<table>" in html and "<td>订单号</td>" in html
    assert "<pre><code>code &lt;b&gt;" in html
    assert 'href="/articles/account/forgot-password#自己动手重置"' in html
    assert 'href="https://example.com"' in html and 'rel="noopener noreferrer"' in html


def test_heading_ids_match_passage_anchors():
    body = "## 第一步\n\n内容\n\n## 第一步\n\n更多\n\n### 细节 说明\n\n细节\n"
    r = render_article(body, "c/a")
    anchors = [a for _, a, _ in sections(body)]
    assert [t["id"] for t in r.toc] == anchors
    for a in anchors:
        assert f'id="{a}"' in r.html
