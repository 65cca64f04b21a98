"""The work behind scripts/i18n (see there).

Message ids are the 简体 UI text itself, so zh-Hans needs no catalog. zh_Hant is made,
never hand-edited: OpenCC s2twp over each msgid, with the articles' glossary for our
terms. Other locales are translated by hand in their .po; empty entries are listed.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpcenter.engine.translations import Converter  # noqa: E402
from helpcenter.locales import CONVERTIBLE, TRANSLATIONS, gettext_name  # noqa: E402

HAND = ("en",)  # locales whose catalogs people translate
KEYWORDS = ["_", "_l", "gettext", "lazy_gettext", "ngettext:1,2"]  # ngettext: singular and plural ids


def extract() -> Catalog:
    with tempfile.TemporaryDirectory() as tmp:
        pot = Path(tmp) / "messages.pot"
        subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "--no-location", "--sort-output",
                        "-F", str(TRANSLATIONS / "babel.cfg"), *sum((["-k", k] for k in KEYWORDS), []),
                        "--project", "helpcenter", "-o", str(pot), "."], cwd=ROOT, check=True, capture_output=True)
        return read_po(pot.open("rb"))


def _po_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_po(buf, catalog, omit_header=False, no_location=True, sort_output=True, width=100)
    return buf.getvalue()


def _mo_bytes(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog)
    return buf.getvalue()


def catalogs(template: Catalog) -> dict[str, Catalog]:
    """Each locale's catalog brought up to the template: kept translations, new ids empty."""
    out: dict[str, Catalog] = {}
    glossary = _glossary()
    for tag in (*CONVERTIBLE, *HAND):
        name = gettext_name(tag)
        path = TRANSLATIONS / name / "LC_MESSAGES" / "messages.po"
        old = read_po(path.open("rb"), locale=name) if path.is_file() else Catalog(locale=name)
        cat = Catalog(locale=name, project="helpcenter", fuzzy=False, creation_date=old.creation_date,
                      revision_date=old.creation_date)
        convert = Converter(CONVERTIBLE[tag], glossary) if tag in CONVERTIBLE else None
        for msg in template:
            if not msg.id:
                continue
            plural = isinstance(msg.id, (list, tuple))
            if convert is not None:
                text: Any = tuple(convert(form) for form in msg.id)[:cat.num_plurals] if plural else convert(msg.id)
            else:
                prev = old.get(msg.id[0] if plural else msg.id)
                text = prev.string if prev is not None and not prev.fuzzy else ""
                if plural:  # one form per plural of the locale (English: one, other)
                    forms = list(text) if isinstance(text, (list, tuple)) else [text] * cat.num_plurals
                    text = tuple((forms + [""] * cat.num_plurals)[:cat.num_plurals])
            cat.add(msg.id, text)
        out[tag] = cat
    return out


def _glossary() -> dict[str, str]:
    import yaml

    path = ROOT / "articles" / "_glossary.zh-Hant.yml"
    data = yaml.safe_load(path.read_text("utf-8")) if path.is_file() else {}
    return {str(k): str(v) for k, v in (data or {}).items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 when anything is out of date")
    args = ap.parse_args()
    template = extract()
    stale: list[str] = []
    missing: dict[str, list[str]] = {}
    for tag, cat in catalogs(template).items():
        folder = TRANSLATIONS / gettext_name(tag) / "LC_MESSAGES"
        po, mo = _po_bytes(cat), _mo_bytes(cat)
        for path, data in ((folder / "messages.po", po), (folder / "messages.mo", mo)):
            if not path.is_file() or path.read_bytes() != data:
                stale.append(str(path.relative_to(ROOT)))
                if not args.check:
                    folder.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
        empty = [m.id for m in cat if m.id and (not m.string or (m.pluralizable and not all(m.string)))]
        if empty:
            missing[tag] = empty
    print(f"{len(template)} UI strings; " + ", ".join(
        f"{t}: {len(template) - len(missing.get(t, []))} translated" for t in (*CONVERTIBLE, *HAND)))
    for tag, ids in missing.items():
        print(f"{tag}: {len(ids)} without a translation (helpcenter/translations/{gettext_name(tag)}"
              "/LC_MESSAGES/messages.po):")
        for i in ids[:20]:
            print(f"  {i!r}")
    if args.check and stale:
        print("out of date (run scripts/i18n): " + ", ".join(stale))
    return 1 if args.check and (stale or missing) else 0


if __name__ == "__main__":
    sys.exit(main())
