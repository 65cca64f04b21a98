"""The small set of category icons a writer can name in ``_category.yml`` (``icon: payment``).

Shared by the engine, which checks the name (``helpcenter check``), and the web layer, which
draws it. They are inline SVG in the page, drawn with ``currentColor`` so they take the brand
colour: no extra request, nothing to cache, and no inline style (the CSP forbids it). A fixed
set, not writers' files: an SVG file served from the site could run script on it.
"""

from __future__ import annotations

# 24 x 24, stroked: the inner markup of one <svg>.
ICONS: dict[str, str] = {
    "account": '<circle cx="12" cy="8" r="4"/><path d="M4 21c0-4.4 3.6-8 8-8s8 3.6 8 8"/>',
    "security": '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>',
    "shield": '<path d="M12 3l8 3v6c0 4.5-3.4 8.3-8 9-4.6-.7-8-4.5-8-9V6z"/>',
    "privacy": '<path d="M12 3l8 3v6c0 4.5-3.4 8.3-8 9-4.6-.7-8-4.5-8-9V6z"/><circle cx="12" cy="11" r="2"/>'
               '<path d="M12 13v3"/>',
    "payment": '<rect x="3" y="5" width="18" height="14" rx="2"/><path d="M3 10h18M7 15h4"/>',
    "contact": '<path d="M4 15v-3a8 8 0 0 1 16 0v3"/><rect x="3" y="14" width="4" height="6" rx="1.5"/>'
               '<rect x="17" y="14" width="4" height="6" rx="1.5"/><path d="M19 20c0 1-2 2-5 2"/>',
    "chat": '<path d="M4 5h16v11H9l-5 4z"/><path d="M8.5 10.5h.01M12 10.5h.01M15.5 10.5h.01"/>',
    "feedback": '<path d="M4 5h16v11H9l-5 4z"/><path d="M8 9h8M8 12.5h5"/>',
    "phone": '<path d="M5 4h4l2 5-2.5 1.5a11 11 0 0 0 5 5L15 13l5 2v4a2 2 0 0 1-2 2A16 16 0 0 1 3 6a2 2 0 0 1 2-2z"/>',
    "mail": '<rect x="3" y="5" width="18" height="14" rx="2"/><path d="M3 7l9 6 9-6"/>',
    "app": '<rect x="7" y="2" width="10" height="20" rx="2"/><path d="M11 18h2"/>',
    "game": '<rect x="2" y="7" width="20" height="11" rx="5.5"/><path d="M7 10.5v4M5 12.5h4"/>'
            '<path d="M15.5 11.5h.01M18 13.5h.01"/>',
    "tools": '<path d="M14.7 6.3a4 4 0 0 0-5.4 5.2L3 17.8 6.2 21l6.3-6.3a4 4 0 0 0 5.2-5.4l-2.5 2.5-2.6-.6-.6-2.6z"/>',
    "clock": '<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>',
    "delivery": '<path d="M2 6h12v10H2zM14 10h4l3 3v3h-7z"/><circle cx="6.5" cy="17.5" r="2"/>'
                '<circle cx="17.5" cy="17.5" r="2"/>',
    "order": '<path d="M3 7l9-4 9 4v10l-9 4-9-4z"/><path d="M3 7l9 4 9-4M12 11v10"/>',
    "checklist": '<rect x="5" y="4" width="14" height="17" rx="2"/><path d="M9 3h6v2H9zM9 11l1.5 1.5L13.5 9.5M9 16h6"/>',
    "help": '<circle cx="12" cy="12" r="9"/><path d="M9.5 9a2.5 2.5 0 1 1 3.5 2.3c-.7.3-1 .9-1 1.7v.5"/>'
            '<path d="M12 17h.01"/>',
}

_SVG = ('<svg class="icon" viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false" '
        'fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">{}</svg>')


def icon_svg(name: str) -> str:
    """The icon as an inline, decorative ``<svg>`` (hidden from screen readers: the name beside it
    says what it is); empty for a name not in the set (an index built before icons, say)."""
    inner = ICONS.get(name or "")
    return _SVG.format(inner) if inner else ""
