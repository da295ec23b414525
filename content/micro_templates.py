"""Micro-templates: the small, registered HTML shapes a variant can take.

Each micro-template names the parameter fields an editor fills in and the Django
template (the site's or Tailor's code, never editor text) that renders them.
Tailor ships four; a site adds its own in ``TAILOR["MICRO_TEMPLATES"]``, read
when used, and they appear in the variant editor's block menu with no change to
Tailor's code or migrations. A mistake in that setting is a system check error
at start-up (``content.checks``) and an ``ImproperlyConfigured`` here.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.template import TemplateDoesNotExist, TemplateSyntaxError
from django.template.loader import get_template
from django.utils.module_loading import import_string

from .conf import setting

PARAM_FIELDS = ("headline", "body", "cta_label", "cta_url", "image", "badge", "position")
ENTRY_KEYS = ("key", "label", "template", "fields", "icon")
# The key names a StreamField block and a CSS class (tailor-<key>): Wagtail wants an identifier.
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class MicroTemplate:
    key: str
    label: str
    template: str
    fields: tuple[str, ...]
    icon: str = "doc-full"

    def __post_init__(self) -> None:
        unknown = set(self.fields) - set(PARAM_FIELDS)
        if unknown:
            raise ValueError(f"Micro-template {self.key!r} names unknown fields: {', '.join(sorted(unknown))}.")


BUILTIN: tuple[MicroTemplate, ...] = (
    MicroTemplate(
        "hero",
        "Hero",
        "content/micro/hero.html",
        ("headline", "body", "cta_label", "cta_url", "image", "badge", "position"),
        icon="image",
    ),
    MicroTemplate(
        "cta_banner",
        "Call-to-action banner",
        "content/micro/cta_banner.html",
        ("headline", "body", "cta_label", "cta_url", "badge", "position"),
        icon="link",
    ),
    MicroTemplate(
        "product_card",
        "Product card",
        "content/micro/product_card.html",
        ("headline", "body", "image", "badge", "cta_label", "cta_url", "position"),
        icon="tag",
    ),
    MicroTemplate(
        "notice",
        "Notice",
        "content/micro/notice.html",
        ("headline", "body", "badge", "position"),
        icon="info-circle",
    ),
)


class _EntryError(Exception):
    """One entry of the setting is unusable; the message says why, in the site owner's terms."""


def _from_mapping(entry: Mapping[str, Any]) -> MicroTemplate:
    unknown = [name for name in entry if name not in ENTRY_KEYS]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), ENTRY_KEYS, n=1)
        meant = f' (did you mean "{close[0]}"?)' if close else ""
        raise _EntryError(
            f'unknown key "{unknown[0]}"{meant}; a micro-template has key, label, template, fields and optionally icon'
        )
    missing = [name for name in ENTRY_KEYS[:4] if name not in entry]
    if missing:
        raise _EntryError(f'missing "{missing[0]}"')
    for name in ("key", "label", "template", "icon"):
        if name in entry and not (isinstance(entry[name], str) and entry[name]):
            raise _EntryError(f'"{name}" must be a non-empty string, not {entry[name]!r}')
    fields = entry["fields"]
    if isinstance(fields, str) or not isinstance(fields, list | tuple) or not fields:
        raise _EntryError(f'"fields" must name at least one of {", ".join(PARAM_FIELDS)}, not {fields!r}')
    for field in fields:
        if field not in PARAM_FIELDS:
            raise _EntryError(f'unknown field "{field}"; use some of {", ".join(PARAM_FIELDS)}')
        if fields.count(field) > 1:
            raise _EntryError(f'"fields" lists "{field}" twice')
    return MicroTemplate(
        entry["key"], entry["label"], entry["template"], tuple(fields), icon=entry.get("icon", "doc-full")
    )


def _resolve(entry: object) -> MicroTemplate:
    if isinstance(entry, str):
        try:
            entry = import_string(entry)
        except (ImportError, ValueError) as exc:  # ValueError: a MicroTemplate that refused its fields
            raise _EntryError(f"cannot import it: {exc}") from None
        if not isinstance(entry, MicroTemplate | Mapping):
            raise _EntryError(f"{entry!r} is not a dict or a MicroTemplate")
    if isinstance(entry, MicroTemplate):
        return entry
    if isinstance(entry, Mapping):
        return _from_mapping(entry)
    raise _EntryError(f"an entry is a dict or the dotted path of one (or of a MicroTemplate), not {entry!r}")


def _where(index: int, entry: object) -> str:
    name = entry.get("key") if isinstance(entry, Mapping) else entry
    named = f' ("{name}")' if isinstance(name, str) else ""
    return f'TAILOR["MICRO_TEMPLATES"][{index}]{named}'


def _parse(raw: object) -> tuple[list[tuple[int, MicroTemplate]], list[str]]:
    """The site's micro-templates with their place in the setting, and a message for each entry that is wrong."""
    if not isinstance(raw, list | tuple):
        return [], [f'TAILOR["MICRO_TEMPLATES"] must be a list of micro-templates, not {raw!r}.']
    builtin = {mt.key for mt in BUILTIN}
    seen: dict[str, int] = {}
    templates: list[tuple[int, MicroTemplate]] = []
    problems: list[str] = []
    for index, entry in enumerate(raw):
        try:
            micro_template = _resolve(entry)
            key = micro_template.key
            if not (isinstance(key, str) and _KEY.fullmatch(key)):
                raise _EntryError(
                    "the key must be letters, digits and underscores, at most 64, not starting with a digit"
                )
            if key in builtin:
                raise _EntryError(f'the key "{key}" is taken by a shipped micro-template')
            if key in seen:
                raise _EntryError(f'the key "{key}" is used by entry {seen[key]} as well')
        except _EntryError as exc:
            problems.append(f"{_where(index, entry)}: {exc}.")
            continue
        seen[key] = index
        templates.append((index, micro_template))
    return templates, problems


@dataclass(frozen=True)
class _Parsed:
    raw: object  # a copy of the setting these were parsed from
    templates: tuple[MicroTemplate, ...]
    by_key: dict[str, MicroTemplate]


_parsed: _Parsed | None = None


def _current() -> _Parsed:
    """The shipped and the site's micro-templates, parsed again only when the setting changed."""
    global _parsed
    raw = setting("MICRO_TEMPLATES")
    parsed = _parsed
    if parsed is None or parsed.raw != raw:
        site, problems = _parse(raw)
        if problems:
            raise ImproperlyConfigured("\n".join(problems))
        templates = BUILTIN + tuple(micro_template for _index, micro_template in site)
        parsed = _parsed = _Parsed(copy.deepcopy(raw), templates, {mt.key: mt for mt in templates})
    return parsed


def get(key: str) -> MicroTemplate:
    return _current().by_key[key]


def all_templates() -> tuple[MicroTemplate, ...]:
    """The shipped micro-templates, then the site's; the same tuple until the setting changes."""
    return _current().templates


def setting_problems() -> list[str]:
    """What is wrong with ``TAILOR["MICRO_TEMPLATES"]``, one message per entry, template files included."""
    raw = setting("MICRO_TEMPLATES")
    templates, problems = _parse(raw)
    for index, micro_template in templates:
        try:
            get_template(micro_template.template)
        except TemplateDoesNotExist:
            problem = f'template "{micro_template.template}" does not exist on the template path'
        except TemplateSyntaxError as exc:
            problem = f'template "{micro_template.template}" does not compile: {exc}'
        else:
            continue
        problems.append(f"{_where(index, raw[index])}: {problem}.")
    return problems
