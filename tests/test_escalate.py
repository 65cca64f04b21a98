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



# --- review of the upload code: animations, MPO, honeypot, held files per visit, limits -----------

def animated_gif(frames: int, side: int) -> bytes:
    """Frames that differ in one pixel: a few KB to send, frames × side² pixels to decode and re-encode."""
    base = Image.new("P", (side, side), 0)
    base.putpalette([c for i in range(256) for c in (i, 255 - i, (7 * i) % 256)])  # every index its own colour
    images = []
    for i in range(frames):
        frame = base.copy()
        frame.putpixel((i % side, 0), 1 + i % 200)
        images.append(frame)
    buf = io.BytesIO()
    images[0].save(buf, "GIF", save_all=True, append_images=images[1:], duration=50, loop=0)
    return buf.getvalue()


def test_an_animation_too_costly_to_re_encode_is_refused_with_its_reason(app, client):
    from .conftest import csrf_from

    bomb = animated_gif(30, 1800)  # 97 million pixels in all, though every frame alone is allowed
    assert len(bomb) < 100_000 and 1800 * 1800 < Image.MAX_IMAGE_PIXELS < 30 * 1800 * 1800
    form = {"subject": "退款", "description": "付款成功但是订单显示未支付，想申请退款。", "email": "a@example.com",
            "category": "orders",
            "screenshots": [(io.BytesIO(bomb), "bomb.gif"), (io.BytesIO(animated_gif(60, 16)), "long.gif")]}
    r = client.post("/api/escalations", data=form, headers={"X-CSRFToken": csrf_from(client)},
                    content_type="multipart/form-data")
    body = r.get_json()
    assert r.status_code == 400, body
    assert [e["code"] for e in body["errors"]] == ["animation_too_large", "animation_too_large"]
    bomb_msg, long_msg = body["fields"]["screenshots"]
    assert bomb_msg.startswith("bomb.gif") and "像素" in bomb_msg
    assert long_msg.startswith("long.gif") and "60 帧" in long_msg
    data = contact_form(client)  # a short animation is still kept as it is
    data["screenshots"] = [(io.BytesIO(animated_gif(3, 16)), "short.gif")]
    r = post(client, data)
    assert r.status_code == 302
    _att, _path, stored = stored_image(app, r.headers["Location"].rsplit("/", 1)[1])
    assert Image.open(io.BytesIO(stored)).n_frames == 3


def mpo_photo() -> bytes:
    """What Samsung and iPhone (HDR) cameras write: a JPEG with a second picture, EXIF and GPS."""
    from PIL import ExifTags

    first = Image.open(io.BytesIO(jpeg_with_gps((40, 20), orientation=6)))
    exif = first.getexif()
    buf = io.BytesIO()
    first.save(buf, format="MPO", save_all=True, append_images=[Image.new("RGB", (40, 20))], exif=exif)
    probe = Image.open(io.BytesIO(buf.getvalue()))
    assert probe.format == "MPO" and probe.n_frames == 2 and probe.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    return buf.getvalue()


def test_a_multi_picture_phone_photo_is_stored_as_an_upright_jpeg(app, client):
    data = contact_form(client)
    data["screenshots"] = [(io.BytesIO(mpo_photo()), "IMG_20261121.jpg")]
    r = post(client, data)
    assert r.status_code == 302, r.get_data(as_text=True)
    att, path, stored = stored_image(app, r.headers["Location"].rsplit("/", 1)[1])
    img = Image.open(io.BytesIO(stored))
    assert img.format == "JPEG" and att.content_type == "image/jpeg" and path.suffix == ".jpg"
    assert getattr(img, "n_frames", 1) == 1 and not img.getexif() and b"Phone" not in stored
    assert img.size == (20, 40)  # upright: the first picture, turned as its EXIF said


def test_a_filled_honeypot_holds_no_screenshots(app, client):
    data = contact_form(client, website="http://spam.example")
    data["screenshots"] = [(io.BytesIO(png_bytes()), "a.png")]
    r = post(client, data)
    assert r.status_code == 400
    pending = app.extensions["hc_upload_dir"] / "pending"
    assert not pending.exists() or not list(pending.iterdir())
    assert 'name="pending_uploads" value=""' in r.get_data(as_text=True)


def test_held_screenshots_can_only_be_attached_by_the_visit_that_chose_them(app, client):
    data = contact_form(client, email="bad")
    data["screenshots"] = [(io.BytesIO(png_bytes()), "mine.png")]
    token = pending_token(post(client, data).get_data(as_text=True))
    stranger = app.test_client()
    r = post(stranger, {**contact_form(stranger), "pending_uploads": token})
    assert r.status_code == 400 and "请重新选择" in r.get_data(as_text=True)
    r = post(client, {**contact_form(client), "pending_uploads": token})
    assert r.status_code == 302
    att, _path, _ = stored_image(app, r.headers["Location"].rsplit("/", 1)[1])
    assert att.original_name == "mine.png"


def test_the_browser_check_allows_only_what_is_left_after_held_screenshots(make_app):
    app = make_app(max_upload_mb=2, max_uploads=3)
    client = app.test_client()
    data = contact_form(client, email="bad")
    data["screenshots"] = [(io.BytesIO(png_bytes()), "held.png")]
    html = post(client, data).get_data(as_text=True)
    field = re.search(r'<input[^>]*id="screenshots"[^>]*>', html).group(0)
    assert 'data-max-files="2"' in field
    assert f'data-max-total="{2 * 2 * 1024 * 1024}"' in field  # two more files of at most 2 MB
