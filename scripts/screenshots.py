"""Save screenshots of home, searches, an article, a category, a missing page and the contact form
(empty and sent with mistakes), at desktop and phone width.

Usage: scripts/screenshots [OUT_DIR]   (default: screenshots/)
Serves the shipped articles (index/current) on a loopback port with the default model.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from helpcenter.config import load_settings
from helpcenter.web import create_app
from helpcenter.web.live import chromium, serve_in_thread

PAGES = [
    ("home", "/"),
    ("search", "/search?q=密码忘了怎么办"),
    ("search-not-confident", "/search?q=你们公司在哪里招聘"),
    ("article", "/articles/account/stolen-account"),
    ("category", "/categories/account"),
    ("not-found", "/articles/account/no-such-article"),
    ("contact", "/contact"),
]
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    settings = load_settings(instance_dir=tempfile.mkdtemp(prefix="hc-shots-"))
    app = create_app(settings=settings)
    with serve_in_thread(app) as base, chromium() as browser:
        for size_name, (w, h) in SIZES.items():
            page = browser.new_page(viewport={"width": w, "height": h})
            page.goto(base + "/search?q=账号被盗")  # gives the contact form some visit context
            for name, path in PAGES:
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                target = out / f"{name}-{size_name}.png"
                page.screenshot(path=str(target), full_page=True)
                print(target)
            # The form sent with a too-short subject and no contact: errors, summary, focus.
            page.goto(base + "/contact")
            page.fill("#subject", "密")
            page.click("button:has-text('提交')")
            page.wait_for_load_state("networkidle")
            target = out / f"contact-errors-{size_name}.png"
            page.screenshot(path=str(target), full_page=True)
            print(target)
            page.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "screenshots"))
