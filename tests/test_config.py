import re
from pathlib import Path

import pytest

from helpcenter.config import ConfigError, load_settings, setting_help


def test_defaults_file_env_and_overrides_in_order(tmp_path):
    cfg = tmp_path / "hc.toml"
    cfg.write_text('[helpcenter]\nrrf_k = 10\nindex_dir = "/srv/index"\n', "utf-8")
    s = load_settings(cfg, env={"HELPCENTER_RRF_K": "20", "HELPCENTER_CONFIDENT_FLOOR": "0.5"})
    assert s.rrf_k == 20 and s.index_dir == "/srv/index" and s.confident_floor == 0.5
    assert load_settings(cfg, env={}, rrf_k=30).rrf_k == 30
    assert load_settings(env={}).articles_dir == "articles"


def test_bad_values_name_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="HELPCENTER_RRF_K"):
        load_settings(env={"HELPCENTER_RRF_K": "many"})
    with pytest.raises(ConfigError, match="fusion"):
        load_settings(env={"HELPCENTER_FUSION": "magic"})
    bad = tmp_path / "bad.toml"
    bad.write_text("colour = 'red'\n", "utf-8")
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings(bad, env={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", env={})


def test_every_setting_is_documented_in_readme():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
    documented = set(re.findall(r"`HELPCENTER_([A-Z_]+)`", readme))
    missing = {name for name in setting_help() if name.upper() not in documented}
    assert not missing, f"settings missing from README: {sorted(missing)}"


def test_brand_colour_and_logo_are_validated(tmp_path):
    assert load_settings(env={"HELPCENTER_BRAND_COLOR": "#05d"}).brand_color == "#05d"
    for bad in ("red", "#12345", "0b57d0", "#gg0000"):
        with pytest.raises(ConfigError, match="brand_color"):
            load_settings(env={"HELPCENTER_BRAND_COLOR": bad})
    svg = tmp_path / "logo.svg"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "utf-8")
    with pytest.raises(ConfigError, match="brand_logo: SVG is not accepted"):
        load_settings(env={"HELPCENTER_BRAND_LOGO": str(svg)})
    disguised = tmp_path / "logo.png"
    disguised.write_bytes(svg.read_bytes())  # an SVG renamed .png
    with pytest.raises(ConfigError, match="is not a PNG image"):
        load_settings(env={"HELPCENTER_BRAND_LOGO": str(disguised)})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(env={"HELPCENTER_BRAND_LOGO": str(tmp_path / "missing.png")})
    with pytest.raises(ConfigError, match=r"\.png, \.jpg, \.jpeg or \.webp"):
        load_settings(env={"HELPCENTER_BRAND_LOGO": str(tmp_path / "logo.gif")})
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "real.webp", "WEBP")
    assert load_settings(env={"HELPCENTER_BRAND_LOGO": str(tmp_path / "real.webp")}).brand_logo.endswith("real.webp")
