"""Safe placeholder substitution in editor text.

Editors may write ``{visitor.first_name|there}`` or ``{context.city|your area}``
in a variant's text. Only fields on an allow-list are substituted, values are
shortened and (for HTML) escaped, and the text after ``|`` is the fallback.
Editor text is never run as a template: this is a single regular-expression
replacement, nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.utils.html import escape

PLACEHOLDER = re.compile(r"\{(visitor|context)\.([a-z][a-z0-9_]{0,40})(?:\|([^{}|]{0,100}))?\}")
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


def substitute(text: str, values: Mapping[str, object], *, html: bool = False) -> str:
    """Replace allowed placeholders in ``text`` with ``values`` (keyed ``"visitor.first_name"``).

    With ``html=True`` the text is trusted editor HTML and only the inserted
    values are escaped; otherwise the result is plain text that the template
    escapes as a whole. Unknown fields are left as written, so a typo is visible
    in preview rather than silently blank.
    """
    if "{" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        name = f"{match.group(1)}.{match.group(2)}"
        if name not in ALLOWED_FIELDS:
            return match.group(0)
        value = values.get(name)
        text_value = str(value).strip()[:MAX_VALUE_LENGTH] if value not in (None, "") else (match.group(3) or "")
        return escape(text_value) if html else text_value

    return PLACEHOLDER.sub(replace, text)
