"""The JSON API: shapes, validation errors as JSON, CSRF and rate limits."""

import io

from PIL import Image

from .conftest import csrf_from


def test_search_shape_and_bounds(client):
    data = client.get("/api/search?q=物流一直不更新&k=2").get_json()
    assert data["results"][0]["id"] == "orders/track-order"
    assert 1 <= len(data["results"]) <= 2  # k bounds the list; articles far below the best are left out
    assert {"id", "title", "category", "score", "snippet", "snippet_html", "confident"} <= set(data["results"][0])
    bad = client.get("/api/search?q=x&k=lots")
    assert bad.status_code == 400 and bad.get_json()["fields"] == {"k": ["k 必须是整数"]}
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


def test_an_api_vote_belongs_to_the_clients_visit(app, client):
    from sqlalchemy import select

    from helpcenter.db import Feedback

    headers = {"X-CSRFToken": csrf_from(client)}
    client.post("/api/feedback", json={"article": "contact/email", "helpful": True},
                headers={**headers, "X-Visit-Id": "widget-visit-1"})
    client.post("/api/feedback", json={"article": "contact/email", "helpful": False}, headers=headers)
    with app.extensions["hc_storage"].session() as s:
        votes = s.scalars(select(Feedback.visit_id).order_by(Feedback.id)).all()
    # The first counts for that client's searches (helpcenter.insights.learning); the second had no visit.
    assert votes == ["api:widget-visit-1", None]


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


# --- control characters, non-string values, one error policy (items 17, 18, 19) ---------

CJK = __import__("re").compile(r"[\u4e00-\u9fff]")
BODY = {"subject": "退款", "description": "付款成功但是订单显示未支付，想申请退款。", "email": "a@example.com",
        "category": "orders"}


def test_escalation_api_flattens_line_breaks_in_single_line_fields(app, client):
    headers = {"X-CSRFToken": csrf_from(client)}
    r = client.post("/api/escalations", json=dict(BODY, subject="退款\r\nBcc: x@evil.example", device="a\nb"),
                    headers=headers)
    assert r.status_code == 201
    esc = app.extensions["hc_storage"].get_escalation(r.get_json()["reference"])
    assert esc.subject == "退款 Bcc: x@evil.example" and esc.device == "a b"
    r = client.post("/api/escalations", json=dict(BODY, name="\x07\x00"), headers=headers)
    assert r.status_code == 400 and r.get_json()["errors"][0] == {
        "field": "name", "code": "control_characters", "message": r.get_json()["fields"]["name"][0]}


def test_numbers_are_taken_as_text_and_other_types_refused(app, client):
    headers = {"X-CSRFToken": csrf_from(client)}
    r = client.post("/api/escalations", json=dict(BODY, order_number=12345, phone=13800000000), headers=headers)
    assert r.status_code == 201
    esc = app.extensions["hc_storage"].get_escalation(r.get_json()["reference"])
    assert esc.order_number == "12345" and esc.phone == "13800000000"
    r = client.post("/api/escalations", json=dict(BODY, order_number=True, device={"model": "x"}, name=["a"],
                                                  orderno="1"), headers=headers)
    assert r.status_code == 400
    fields = r.get_json()["fields"]
    assert set(fields) == {"order_number", "device", "name", "orderno"}
    codes = {e["field"]: e["code"] for e in r.get_json()["errors"]}
    assert codes == {"order_number": "wrong_type", "device": "wrong_type", "name": "wrong_type",
                     "orderno": "unknown_field"}


def assert_policy(r, status: int, code: str) -> dict:
    body = r.get_json()
    assert r.status_code == status and body["status"] == status and body["code"] == code, body
    assert CJK.search(body["error"]), body
    for field, messages in body.get("fields", {}).items():
        assert messages and all(CJK.search(m) for m in messages), (field, messages)
    for e in body.get("errors", []):
        assert set(e) == {"field", "code", "message"} and CJK.search(e["message"]) and e["code"], e
    return body


def test_every_api_error_is_chinese_with_a_code(make_app):
    client = make_app(rate_limit_api="5 per minute").test_client()
    headers = {"X-CSRFToken": csrf_from(client)}
    body = assert_policy(client.get("/api/search"), 400, "invalid_fields")
    assert body["errors"] == [{"field": "q", "code": "required", "message": body["fields"]["q"][0]}]
    body = assert_policy(client.get("/api/search?q=x&k=lots"), 400, "invalid_fields")
    assert body["errors"][0]["code"] == "not_an_integer"
    assert_policy(client.get("/api/articles/account/nope"), 404, "not_found")
    assert_policy(client.get("/api/nope"), 404, "not_found")
    assert_policy(client.get("/api/feedback"), 405, "method_not_allowed")
    assert_policy(client.post("/api/feedback", data="not json", headers=headers), 400, "invalid_json")
    body = assert_policy(client.post("/api/feedback", json={"article": "x/y", "helpful": "maybe"}, headers=headers),
                         400, "invalid_fields")
    assert {e["code"] for e in body["errors"]} == {"unknown_article", "wrong_type"}
    assert_policy(client.post("/api/feedback", json={"article": "contact/email", "helpful": True}), 400,
                  "csrf_failed")
    body = assert_policy(client.post("/api/escalations", json={"subject": "x", "category": "nope"}, headers=headers),
                         400, "invalid_fields")
    assert {"subject", "description", "email", "category"} <= set(body["fields"])
    assert "Not a valid choice" not in str(body)
    for _ in range(5):
        client.get("/api/categories")
    assert_policy(client.get("/api/categories"), 429, "rate_limited")


def test_each_endpoint_says_what_is_too_large_for_it(make_app):
    client = make_app(max_upload_mb=1, max_uploads=1).test_client()
    headers = {"X-CSRFToken": csrf_from(client)}
    big = {"article": "contact/email", "helpful": False, "comment": "长" * 400_000}
    body = assert_policy(client.post("/api/feedback", json=big, headers=headers), 413, "too_large")
    assert "反馈" in body["error"] and "截图" not in body["error"]
    form = dict(BODY, screenshots=(io.BytesIO(b"\xff\xd8" + b"0" * (8 * 1024 * 1024)), "huge.jpg"))
    r = client.post("/api/escalations", data=form, headers=headers, content_type="multipart/form-data")
    assert "截图" in assert_policy(r, 413, "too_large")["error"]
    form = dict(BODY, screenshots=(io.BytesIO(b"\xff\xd8" + b"0" * (1024 * 1024 + 10)), "big.jpg"))
    r = client.post("/api/escalations", data=form, headers=headers, content_type="multipart/form-data")
    body = assert_policy(r, 400, "invalid_fields")  # within what the server reads: a field error
    assert body["errors"] == [{"field": "screenshots", "code": "file_too_large",
                               "message": body["fields"]["screenshots"][0]}]


def test_a_json_escalation_is_capped_far_below_what_multipart_may_send(make_app):
    client = make_app(max_upload_mb=5, max_uploads=3).test_client()  # multipart may send ~61 MB
    headers = {"X-CSRFToken": csrf_from(client)}
    r = client.post("/api/escalations", json=dict(BODY, description="长" * 40_000), headers=headers)  # ~120 KB
    body = assert_policy(r, 413, "too_large")
    assert "64 KB" in body["error"] and "multipart/form-data" in body["error"]
    within = client.post("/api/escalations", json=dict(BODY, description="长" * 6000), headers=headers)
    assert assert_policy(within, 400, "invalid_fields")["errors"][0]["code"] == "too_long"  # said per field


def test_type_errors_and_form_errors_come_in_the_form_order(client):
    headers = {"X-CSRFToken": csrf_from(client)}
    body = {k: v for k, v in BODY.items() if k != "email"}
    r = client.post("/api/escalations", json=dict(body, email=["a@example.com"], phone="12"), headers=headers)
    errors = assert_policy(r, 400, "invalid_fields")["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [("email", "wrong_type"), ("phone", "invalid_phone")]
