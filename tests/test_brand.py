"""The brand (helpcenter.web.brand): colour as a hashed stylesheet, readable on any setting; the logo."""

from __future__ import annotations

import re

import pytest
from PIL import Image

from helpcenter.web.brand import contrast, palette, readable


@pytest.mark.parametrize("color", ["#0b57d0", "#ffcc00", "#7fdbff", "#fff", "#e91e63", "#000"])
def test_text_on_the_brand_colour_always_passes_aa(color):
    accent = palette(color)["--accent"]
    assert contrast(accent, "#ffffff") >= 4.5  # white text on the header and buttons
    assert contrast(accent, palette(color)["--accent-soft"]) >= 4.5  # links on the tinted best answer


def test_a_dark_enough_colour_is_kept_as_it_is():
    assert readable("#0b57d0") == "#0b57d0" and readable("#05d") == "#0055dd"
    assert readable("#ffcc00") != "#ffcc00"


def brand_css_url(html: str) -> str:
    return re.search(r'<link rel="stylesheet" href="(/brand/[0-9a-f]{12}\.css)">', html).group(1)


def test_the_colour_is_served_as_a_stylesheet_named_by_its_content(make_app):
    client = make_app(brand_color="#e91e63").test_client()
    url = brand_css_url(client.get("/").text)
    css = client.get(url)
    assert css.mimetype == "text/css" and "immutable" in css.headers["Cache-Control"]
    assert f"--accent:{readable('#e91e63')}" in css.text
    assert brand_css_url(client.get("/en/").text) == url  # one URL in every locale: cached once
    assert client.get("/brand/000000000000.css").status_code == 404
    other = make_app(brand_color="#1a7f37").test_client()
    assert brand_css_url(other.get("/").text) != url  # a new colour is a new name: no stale cache


def test_the_logo_is_served_under_its_hash_with_its_size(make_app, tmp_path):
    logo = tmp_path / "logo.png"
    Image.new("RGB", (120, 40), (200, 30, 30)).save(logo, "PNG")
    client = make_app(brand_logo=str(logo)).test_client()
    html = client.get("/").text
    img = re.search(r'<img class="brand-logo" src="(/brand/logo-[0-9a-f]{16}\.png)" alt="" width="120" height="40">',
                    html)
    assert img, html[:2000]
    got = client.get(img.group(1))
    assert got.data == logo.read_bytes() and got.mimetype == "image/png"
    assert "immutable" in got.headers["Cache-Control"]
    assert client.get("/brand/logo-0000000000000000.png").status_code == 404
    assert '<img class="brand-logo"' not in make_app().test_client().get("/").text  # no logo set: the name alone
