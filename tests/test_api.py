"""The JSON API: shapes, validation errors as JSON, CSRF and rate limits."""

import io

from PIL import Image

from .conftest import csrf_from


def test_search_shape_and_bounds(client):
    data = client.get("/api/search?q=物流一直不更新&k=2").get_json()
    assert data["results"][0]["id"] == "orders/track-order"
    assert len(data["results"]) == 2
    assert {"id", "title", "category", "score", "snippet", "snippet_html", "confident"} <= set(data["results"][0])
    bad = client.get("/api/search?q=x&k=lots")
    assert bad.status_code == 400 and bad.get_json()["fields"] == {"k": ["must be a whole number"]}
    missing = client.get("/api/search")
    assert missing.status_code == 400 and "q" in missing.get_json()["fields"]


def test_suggest_categories_article(client):
    assert client.get("/api/suggest?q=密").get_json()["suggestions"] == []
    sugg = client.get("/api/suggest?q=追踪号码").get_json()["suggestions"]
    assert sugg[0]["url"] == "/articles/orders/track-order"
    cats = client.get("/api/categories").get_json()["categories"]
    assert [c["id"] for c in cats] == ["account", "contact", "orders"]
    art = client.get("/api/articles/account/forgot-password").get_json()
    assert art["title"] == "忘记密码怎么重置" and "<h2" in art["html"]
    nope = client.get("/api/articles/account/nope")
    assert nope.status_code == 404 and nope.get_json()["error"]


def test_feedback_api(client):
    headers = {"X-CSRFToken": csrf_from(client)}
    ok = client.post("/api/feedback", json={"article": "contact/email", "helpful": False, "comment": "没写邮箱地址"},
                     headers=headers)
    assert ok.status_code == 201
    bad = client.post("/api/feedback", json={"article": "x/y", "helpful": "maybe"}, headers=headers)
    assert bad.status_code == 400 and set(bad.get_json()["fields"]) == {"article", "helpful"}
    no_token = client.post("/api/feedback", json={"article": "contact/email", "helpful": True})
    assert no_token.status_code == 400 and "CSRF" in no_token.get_json()["error"]


def test_escalations_api_json_and_multipart(app, client):
    headers = {"X-CSRFToken": csrf_from(client)}
    body = {"subject": "退款", "description": "付款成功但是订单显示未支付，想申请退款。", "phone": "13800000000",
            "category": "orders"}
    ok = client.post("/api/escalations", json=body, headers=headers)
    assert ok.status_code == 201
    ref = ok.get_json()["reference"]
    assert app.extensions["hc_storage"].get_escalation(ref).phone == "13800000000"
    bad = client.post("/api/escalations", json={"subject": "x"}, headers=headers)
    assert bad.status_code == 400
    assert {"subject", "description", "email", "category"} <= set(bad.get_json()["fields"])
    buf = io.BytesIO()
    Image.new("RGB", (5, 5)).save(buf, "JPEG")
    form = dict(body, screenshots=(io.BytesIO(buf.getvalue()), "a.jpg"))
    multi = client.post("/api/escalations", data=form, headers=headers, content_type="multipart/form-data")
    assert multi.status_code == 201
    esc = app.extensions["hc_storage"].get_escalation(multi.get_json()["reference"])
    assert esc.attachments[0].content_type == "image/jpeg"


def test_api_rate_limit_is_json(make_app):
    client = make_app(rate_limit_api="3 per minute").test_client()
    codes = [client.get("/api/search?q=密码").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get("/api/categories")
    assert r.status_code == 429 and r.get_json()["status"] == 429


def test_every_api_route_is_in_the_openapi_file(app):
    import re as _re
    from pathlib import Path

    import yaml

    spec = yaml.safe_load((Path(app.static_folder) / "openapi.yaml").read_text("utf-8"))
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = _re.sub(r"<(?:\w+:)?cat_id>", "{category}", rule.rule)
            path = _re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)
            routes |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == documented
