"""System checks: a site's ``TAILOR["MICRO_TEMPLATES"]`` is checked when Django starts (runserver, migrate, check).

A wrong entry would otherwise surface on the first page that renders a slot, or as a
variant whose parameters vanish in the editor; here it stops start-up with the entry's
place in the setting and what is wrong with it.
"""

from __future__ import annotations

from typing import Any

from django.core import checks

from . import micro_templates

HINT = (
    'Each entry is a dict {"key", "label", "template", "fields"[, "icon"]} or the dotted path of one '
    "(or of a content.micro_templates.MicroTemplate); fields are some of " + ", ".join(micro_templates.PARAM_FIELDS)
)


def micro_templates_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    return [checks.Error(problem, hint=HINT, id="content.E001") for problem in micro_templates.setting_problems()]
