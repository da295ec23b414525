"""Rich text as a variant renders it: rebuilt from an allow-list, personalized in text only.

A variant's body is HTML from Wagtail's editor, but it also arrives from code,
imports and old revisions, so it is not trusted as it is. It is parsed with the
standard library's ``html.parser`` and written out again with only the tags and
attributes Wagtail's rich text produces, every ``href`` and ``src`` checked
against the link allow-list. Placeholders are filled in text only: in an
attribute a placeholder becomes its fallback, so the editor, never the visitor,
decides where a link points. Parsing happens once per body (cached); each
request only fills and escapes the text pieces.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from html import escape as html_escape  # Django's escape without its lazy-string wrapper: this runs per request
from html.parser import HTMLParser

from django.utils.html import escape, format_html, format_html_join

from .links import link_allowed
from .placeholders import fallbacks_fill, substitute

_COMMON: frozenset[str] = frozenset()
ALLOWED_TAGS: dict[str, frozenset[str]] = {
    "a": frozenset({"href", "title"}),
    "img": frozenset({"src", "alt", "width", "height", "class"}),
    **{
        tag: _COMMON
        for tag in (
            "p", "br", "b", "strong", "i", "em", "u", "s", "sub", "sup", "code", "blockquote", "hr",
            "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "span", "div",
        )
    },
}  # fmt: skip
URL_ATTRIBUTES = frozenset({"href", "src"})
VOID_TAGS = frozenset({"br", "hr", "img"})
# Dropped with everything inside them; any other unknown tag is dropped but its text kept.
DROPPED_WITH_CONTENT = frozenset(
    {
        "script", "style", "template", "iframe", "frame", "frameset", "object", "embed", "noscript", "noembed",
        "noframes", "textarea", "title", "xmp", "svg", "math", "select", "head",
    }
)  # fmt: skip

# A body is a sequence of pieces: (True, text to fill and escape) or (False, finished markup).
Piece = tuple[bool, str]


class _Rebuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[Piece] = []
        self.open: list[str] = []
        self.skipping: list[str] = []

    def _markup(self, text: str) -> None:
        self.pieces.append((False, text))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping or tag in DROPPED_WITH_CONTENT:
            if tag in DROPPED_WITH_CONTENT:
                self.skipping.append(tag)
            return
        allowed = ALLOWED_TAGS.get(tag)
        if allowed is None:
            return
        kept: dict[str, str] = {}
        for name, value in attrs:
            if name not in allowed or name in kept or value is None:
                continue  # a browser reads the first of two same-named attributes
            value = fallbacks_fill(value)
            if name in URL_ATTRIBUTES and not link_allowed(value):
                continue
            kept[name] = value
        self._markup(format_html("<{}{}>", tag, format_html_join("", ' {}="{}"', kept.items())))
        if tag not in VOID_TAGS:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag in self.skipping:
                del self.skipping[self.skipping.index(tag) :]
            return
        # Only close what this body opened, so a stray "</div>" cannot close the page's own markup.
        if tag in self.open:
            while self.open:
                closing = self.open.pop()
                self._markup(format_html("</{}>", closing))
                if closing == tag:
                    break

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_WITH_CONTENT:
            return
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.handle_endtag(tag)

    def handle_data(self, data: str) -> None:
        if self.skipping or not data:
            return
        if self.pieces and self.pieces[-1][0]:
            self.pieces[-1] = (True, self.pieces[-1][1] + data)
        else:
            self.pieces.append((True, data))

    # Comments, doctypes, processing instructions and CDATA sections are dropped: the default handlers do nothing.

    def result(self) -> tuple[Piece, ...]:
        self.close()
        for tag in reversed(self.open):
            self._markup(format_html("</{}>", tag))
        self.open = []
        # Text without a placeholder is escaped now and joined to the markup around it,
        # so a request only fills and escapes the few pieces that can change.
        pieces: list[Piece] = []
        for is_text, text in self.pieces:
            if is_text and "{" not in text:
                is_text, text = False, escape(text)
            if pieces and not is_text and not pieces[-1][0]:
                pieces[-1] = (False, pieces[-1][1] + text)
            else:
                pieces.append((is_text, text))
        return tuple(pieces)


@lru_cache(maxsize=1024)
def richtext_pieces(html: str) -> tuple[Piece, ...]:
    """``html`` rebuilt from the allow-list, split into markup and the text that placeholders may fill."""
    parser = _Rebuilder()
    parser.feed(html)
    return parser.result()


def richtext_render(html: str, values: Mapping[str, object]) -> str:
    """Safe HTML for ``html`` with placeholders filled (and escaped) in its text."""
    if not html:
        return ""
    return "".join(
        html_escape(substitute(text, values)) if is_text else text for is_text, text in richtext_pieces(html)
    )
