"""Which link targets Tailor puts in a page.

One allow-list for every URL that reaches an ``href`` or ``src``: paths on the
site (``/offers/``, ``#top``, ``?page=2``), http(s), mailto: and tel:. The
editor's form refuses anything else when it is saved; rendering checks again,
because parameters also come from code, imports and old revisions.
"""

from __future__ import annotations

import re

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto", "tel"})

# Browsers drop tab and newline anywhere in a URL and C0 controls or spaces around it,
# so "java\tscript:" and " javascript:" must be judged as they will be read.
_DROPPED = re.compile(r"[\t\n\r]")
_AROUND = "".join(chr(c) for c in range(0x21))
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")


def link_scheme(url: str) -> str | None:
    """The scheme a browser would read in ``url`` (lower case), or None for a link relative to the page."""
    match = _SCHEME.match(_DROPPED.sub("", url).strip(_AROUND))
    return match.group(1).lower() if match else None


def link_allowed(url: str) -> bool:
    """True if ``url`` is a site path or an http(s), mailto: or tel: link (never ``javascript:``, ``data:``...)."""
    cleaned = _DROPPED.sub("", url).strip(_AROUND)
    if not cleaned:
        return False
    # "//host", "/\\host" and "\\\\host" all leave the site (browsers read "\\" as "/").
    if len(cleaned) > 1 and cleaned[0] in "/\\" and cleaned[1] in "/\\":
        return False
    scheme = link_scheme(cleaned)
    return scheme is None or scheme in ALLOWED_SCHEMES
