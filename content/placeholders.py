"""Safe placeholder substitution in editor text.

Editors may write ``{visitor.first_name|there}`` or ``{context.city|your area}``
in a variant's text. Only fields on an allow-list are substituted, values are
shortened, and the text after ``|`` is the fallback. Text written inside the
braces around the field comes with the value only: ``Welcome back{, visitor.first_name|}!``
reads "Welcome back, Ann!" for Ann and "Welcome back!" for a visitor without a
name (so punctuation and spaces never dangle). Editor text is never run
as a template: this is a single regular-expression replacement, nothing more.
The result is plain text, escaped by whoever writes it into HTML; in rich text
only text nodes are filled (``content.richtext``), never an attribute.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# {prefix field suffix|fallback}: the prefix and suffix (short, no braces or "|") are written only with a value.
PLACEHOLDER = re.compile(
    r"\{(?P<prefix>[^{}|]{0,40}?)(?P<source>visitor|context)\.(?P<field>[a-z][a-z0-9_]{0,40})"
    r"(?P<suffix>[^{}|a-z0-9_][^{}|]{0,39})?(?:\|(?P<fallback>[^{}|]{0,100}))?\}"
)
MAX_VALUE_LENGTH = 100

ALLOWED_FIELDS = frozenset(
    {
        "visitor.first_name",
        "visitor.visit_count",
        "context.city",
        "context.region",
        "context.country",
        "context.device",
        "context.browser",
        "context.os",
        "context.utm_source",
        "context.utm_medium",
        "context.utm_campaign",
    }
)
CONTEXT_FIELDS = tuple(sorted(field for field in ALLOWED_FIELDS if field.startswith("context.")))


def substitute(text: str, values: Mapping[str, object]) -> str:
    """Replace allowed placeholders in ``text`` with ``values`` (keyed ``"visitor.first_name"``).

    The result is plain text: escape it where it goes into HTML. Unknown fields
    are left as written, so a typo is visible in preview rather than silently
    blank.
    """
    if "{" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        name = f"{match['source']}.{match['field']}"
        if name not in ALLOWED_FIELDS:
            return match.group(0)
        value = values.get(name)
        value = str(value).strip()[:MAX_VALUE_LENGTH] if value is not None else ""
        if not value:
            return match["fallback"] or ""
        return f"{match['prefix']}{value}{match['suffix'] or ''}"

    return PLACEHOLDER.sub(replace, text)


def fallbacks_fill(text: str) -> str:
    """Allowed placeholders in ``text`` replaced by their fallbacks (or removed), whatever the visitor sent.

    For attributes: a link target or image source chosen by a visitor's
    ``utm_source`` is a ``javascript:`` link away from running script, so there
    the editor's fallback is all that is ever written.
    """
    if "{" not in text:
        return text
    return PLACEHOLDER.sub(
        lambda m: (m["fallback"] or "") if f"{m['source']}.{m['field']}" in ALLOWED_FIELDS else m.group(0), text
    )
