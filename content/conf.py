"""Content settings: ``settings.TAILOR`` over these defaults, read at call time so ``override_settings`` works."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # The site's own micro-templates, beside the four Tailor ships: each a dict with key, label, template,
    # fields (and optionally icon), or the dotted path of one (see content.micro_templates).
    "MICRO_TEMPLATES": [],
}


def setting(name: str) -> Any:
    overrides = getattr(settings, "TAILOR", {})
    return overrides[name] if name in overrides else DEFAULTS[name]
