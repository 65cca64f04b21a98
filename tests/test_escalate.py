"""仍需帮助 (helpcenter.web.escalate and helpcenter.web.uploads): what a person typed and chose
survives every kind of refusal, single-line fields stay single-line, uploads are cleaned."""

import io
import os
import re
import stat

from PIL import Image, ImageChops

from .test_web import REF_RE, contact_form, png_bytes

TEXT = "重置密码的时候一直收不到短信验证码，已经试过三次了。"


def photo(nbytes: int) -> bytes:
    """Stands in for a phone photo: the server must refuse it by size, before decoding."""
    return b"\xff\xd8\xff\xe0" + os.urandom(nbytes - 4)


def post(client, data, **kw):
    return client.post("/contact", data=data, content_type="multipart/form-data", **kw)


def pending_token(html: str) -> str:
    m = re.search(r'name="pending_uploads"[^>]*value="([^"]+)"', html)
    assert m, "the accepted screenshots are not carried over"
    return m.group(1)


def stored_image(app, ref: str, index: int = 0):
    att = app.extensions["hc_storage"].get_escalation(ref).attachments[index]
    path = app.extensions["hc_upload_dir"] / att.stored_name
    return att, path, path.read_bytes()


# --- 15: too large photos never cost the typed text -----------------------------------

def test_three_phone_photos_over_the_limit_bring_back_the_filled_form(make_app):
    app = make_app(max_upload_mb=1, max_uploads=3)
    client = app.test_client()
    data = contact_form(client, subject="付款后订单未更新", phone="13800000000")
    data["screenshots"] = [(io.BytesIO(photo(1_600_000)), f"IMG_000{i}.jpg") for i in range(3)]
    r = post(client, data)  # 4.8 MB: more than the whole request used to be allowed to be
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert 'value="付款后订单未更新"' in html and TEXT in html and 'value="13800000000"' in html
    for i in range(3):
        assert f"IMG_000{i}.jpg" in html
    assert "超过 1 MB" in html


def test_a_too_large_photo_does_not_drop_the_good_one(make_app):
    app = make_app(max_upload_mb=1, max_uploads=3)
    client = app.test_client()
    data = contact_form(client)
    data["screenshots"] = [(io.BytesIO(png_bytes()), "good.png"), (io.BytesIO(photo(1_500_000)), "big.jpg")]
    r = post(client, data)
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "big.jpg" in html and "超过 1 MB" in html
    r = post(client, {**contact_form(client), "pending_uploads": pending_token(html)})
    assert r.status_code == 302
    att, _path, _ = stored_image(app, r.headers["Location"].rsplit("/", 1)[1])
    assert att.original_name == "good.png"


def test_the_form_tells_the_browser_the_limits(make_app):
    html = make_app(max_upload_mb=2, max_uploads=4).test_client().get("/contact").get_data(as_text=True)
    field = re.search(r'<input[^>]*id="screenshots"[^>]*>', html).group(0)
    assert f'data-max-bytes="{2 * 1024 * 1024}"' in field and 'data-max-files="4"' in field
    assert "最多 4 张，每张不超过 2 MB" in html


# --- 16: chosen files and focus after a failed validation -------------------------------

def test_accepted_screenshots_are_kept_when_another_field_is_wrong(app, client):
    data = contact_form(client, email="not-an-email")
    data["screenshots"] = [(io.BytesIO(png_bytes((30, 12))), "截图1.png"), (io.BytesIO(b"%PDF-1.4"), "x.png")]
    r = post(client, data)
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "有效的电子邮箱" in html and "不是有效的图片" in html
    assert "截图1.png" in html and "已附上" in html
    r = post(client, {**contact_form(client), "pending_uploads": pending_token(html)})  # no file chosen again
    assert r.status_code == 302
    ref = r.headers["Location"].rsplit("/", 1)[1]
    att, path, data_ = stored_image(app, ref)
    assert att.original_name == "截图1.png"
    assert Image.open(io.BytesIO(data_)).size == (30, 12)
    assert len(app.extensions["hc_storage"].get_escalation(ref).attachments) == 1
    assert not list((app.extensions["hc_upload_dir"] / "pending").glob("*"))  # nothing left behind


def test_a_kept_screenshot_can_be_removed_and_a_forged_token_is_refused(app, client):
    data = contact_form(client, email="bad")
    data["screenshots"] = [(io.BytesIO(png_bytes()), "a.png")]
    html = post(client, data).get_data(as_text=True)
    token = pending_token(html)
    stored = re.search(r'name="remove_pending" value="([^"]+)"', html).group(1)
    r = post(client, {**contact_form(client), "pending_uploads": token, "remove_pending": stored})
    assert r.status_code == 302
    assert app.extensions["hc_storage"].get_escalation(r.headers["Location"].rsplit("/", 1)[1]).attachments == []
    r = post(client, {**contact_form(client), "pending_uploads": token[:-3] + "abc"})
    assert r.status_code == 400 and "请重新选择" in r.get_data(as_text=True)


def test_focus_goes_to_the_first_wrong_field_with_a_summary(client):
    r = post(client, contact_form(client, description="太短", email="bad"))
    html = r.get_data(as_text=True)
    assert html.count("autofocus") == 1
    assert re.search(r'<textarea[^>]*autofocus[^>]*id="description"|<textarea[^>]*id="description"[^>]*autofocus',
                     html)
    summary = html[html.index("error-summary"):]
    assert summary.index('href="#description"') < summary.index('href="#email"')
    assert re.search(r'id="email"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="email"', html)


# --- 17: single-line fields ---------------------------------------------------------------

def test_line_breaks_in_single_line_fields_are_flattened_and_control_characters_refused(app, client):
    r = post(client, contact_form(client, subject="收不到验证码\r\nBcc: evil@example.com", name="张三\n",
                                  order_number="A1\t23"))
    assert r.status_code == 302
    esc = app.extensions["hc_storage"].get_escalation(r.headers["Location"].rsplit("/", 1)[1])
    assert esc.subject == "收不到验证码 Bcc: evil@example.com" and esc.name == "张三" and esc.order_number == "A1 23"
    r = post(client, contact_form(client, device="iPhone\x00\x1b[31m"))
    assert r.status_code == 400 and "控制字符" in r.get_data(as_text=True)


# --- 24: private files, no personal data in the cookie -------------------------------------

def test_uploads_are_readable_by_the_owner_only(app, client):
    data = contact_form(client)
    data["screenshots"] = [(io.BytesIO(png_bytes()), "a.png")]
    r = post(client, data)
    _att, path, _ = stored_image(app, r.headers["Location"].rsplit("/", 1)[1])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    held = post(client, {**contact_form(client, email="bad"), "screenshots": (io.BytesIO(png_bytes()), "b.png")})
    assert held.status_code == 400
    pending = path.parent / "pending"
    assert stat.S_IMODE(pending.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in pending.iterdir())


def test_the_session_cookie_keeps_no_phone_number_or_email_from_a_search(app, client):
    client.get("/search?q=手机13800001234收不到验证码 a.b@example.com")
    cookie = client.get_cookie("session").value
    session = app.session_interface.get_signing_serializer(app).loads(cookie)
    assert "13800001234" not in str(session) and "a.b@example.com" not in str(session)
    html = client.get("/contact").get_data(as_text=True)
    assert "收不到验证码" in html and "13800001234" not in html
    r = post(client, contact_form(client))
    esc = app.extensions["hc_storage"].get_escalation(r.headers["Location"].rsplit("/", 1)[1])
    assert "13800001234" not in esc.context and "收不到验证码" in esc.as_json()["context"]["query"]


# --- 25: uploads are re-encoded ---------------------------------------------------------------

def jpeg_with_gps(size=(40, 20), orientation=1) -> bytes:
    from PIL import ExifTags

    img = Image.new("RGB", size, (10, 120, 200))
    img.paste((250, 250, 0), (0, 0, size[0] // 2, size[1] // 2))  # a corner marks which way is up
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Make] = "Phone"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (31.0, 14.0, 2.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (121.0, 28.0, 7.0)
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif, quality=95)
    return buf.getvalue()


def test_uploaded_images_lose_metadata_and_trailing_bytes_but_keep_their_pixels(app, client):
    raw_jpeg = jpeg_with_gps()
    assert Image.open(io.BytesIO(raw_jpeg)).getexif().get_ifd(0x8825)  # the test photo has a location
    png = Image.new("RGBA", (33, 17), (0, 0, 0, 0))
    png.putpixel((3, 4), (255, 0, 0, 128))
    buf = io.BytesIO()
    png.save(buf, "PNG")
    tail = b"<html><script>alert(1)</script></html>"
    data = contact_form(client)
    data["screenshots"] = [(io.BytesIO(raw_jpeg + tail), "gps.jpg"), (io.BytesIO(buf.getvalue() + tail), "p.png")]
    r = post(client, data)
    assert r.status_code == 302
    ref = r.headers["Location"].rsplit("/", 1)[1]
    att, _p, stored = stored_image(app, ref, 0)
    assert tail not in stored and b"<html>" not in stored and b"Phone" not in stored
    img = Image.open(io.BytesIO(stored))
    assert img.format == "JPEG" and att.content_type == "image/jpeg" and att.size == len(stored)
    assert not img.getexif() and "exif" not in img.info
    assert img.size == (40, 20) and img.mode == "RGB"
    att, _p, stored = stored_image(app, ref, 1)
    assert tail not in stored
    img = Image.open(io.BytesIO(stored))
    assert img.format == "PNG" and img.mode == png.mode and img.size == png.size
    assert ImageChops.difference(img, png).getbbox() is None and img.tobytes() == png.tobytes()


def test_a_rotated_phone_photo_is_stored_upright(app, client):
    data = contact_form(client)
    data["screenshots"] = [(io.BytesIO(jpeg_with_gps((40, 20), orientation=6)), "rotated.jpg")]
    r = post(client, data)
    _att, _p, stored = stored_image(app, r.headers["Location"].rsplit("/", 1)[1])
    img = Image.open(io.BytesIO(stored)).convert("RGB")
    assert img.size == (20, 40)  # orientation 6: turned 90° clockwise for display
    assert img.getpixel((15, 5))[2] < 100  # the yellow corner is now top right
    assert REF_RE.fullmatch(r.headers["Location"].rsplit("/", 1)[1])


def test_upload_folder_is_private_from_the_start(app):
    assert stat.S_IMODE(app.extensions["hc_upload_dir"].stat().st_mode) == 0o700

