"""Previewing a page as a segment, a context or a sampled visitor, from Wagtail's preview panel.

Wagtail renders a preview with a request of its own (``make_preview_request``: a fresh request through the
middleware, flagged ``is_preview``) built inside the editor's request to the preview view, and copies none of
that request's query. The editor's choice travels in that outer query (the ``tailor_*`` parameters that the
control in the preview panel adds to the iframe's URL, ``static/personalization/preview-panel.js``): a
``request_started`` receiver keeps it for the thread (Wagtail's inner request sends no such signal), and the
preview's slots read it here. Any page type works: nothing is asked of the site's models or templates.

A preview decides for the chosen visitor and context like any visit, and records nothing (``DISCARD``):
no decision logged, no exposure kept for frequency caps, no render counted for the guardrails.
"""

from __future__ import annotations

import dataclasses
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import QueryDict
from django.utils import timezone

from personalization.engine.context import DEVICES, Context
from personalization.serving.catalog import CompiledSlot, catalog_get
from personalization.serving.decide import slot_get
from tracking.consent import consent_for
from tracking.context import request_context
from tracking.models import DecisionLog
from tracking.staff import ADMIN_ACCESS
from tracking.visitors import VisitorState, visitor_id_parse

logger = logging.getLogger(__name__)

PREFIX = "tailor_"
PREVIEW_DEVICES = tuple(device for device in DEVICES if device != "bot")
# Wagtail's preview sizes are 375, 768 and 1280 px wide; a site's own sizes fall in the same bands.
MOBILE_MAX_WIDTH = 600
TABLET_MAX_WIDTH = 1024

_outer_query: ContextVar[str] = ContextVar("tailor_preview_outer_query", default="")


def outer_query_capture(sender: Any = None, environ: Any = None, scope: Any = None, **kwargs: Any) -> None:
    """``request_started`` receiver: the query of the request this thread now serves (WSGI or ASGI)."""
    if environ is not None:
        query = environ.get("QUERY_STRING", "")
    elif scope is not None:
        query = scope.get("query_string", b"").decode("latin-1")
    else:
        query = ""
    # Kept only when it says something to a preview: other requests pay one substring test.
    _outer_query.set(query if PREFIX in query else "")


@dataclass(frozen=True)
class PreviewChoice:
    """Whom the editor previews as; empty fields keep what the preview request itself says."""

    segment: str = ""  # a segment key: the visitor is in it, and in none of the slot's other segments
    device: str = ""  # chosen by the editor; else the preview panel's width decides
    width: int | None = None  # the preview panel's size (CSS pixels)
    utm_source: str = ""
    country: str = ""
    hour: int | None = None  # 0-23, the site's local time
    logged_in: bool | None = None
    visitor_id: str = ""  # a recent real visitor (with consent) whose last context and identity are used

    @property
    def preview_device(self) -> str:
        if self.device:
            return self.device
        if self.width is None:
            return ""
        if self.width <= MOBILE_MAX_WIDTH:
            return "mobile"
        return "tablet" if self.width <= TABLET_MAX_WIDTH else "desktop"


def _whole(value: str, field: str, low: int, high: int, errors: dict[str, str]) -> int | None:
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        errors[field] = f"must be a whole number from {low} to {high}, not {value[:20]!r}"
        return None
    return number


def preview_choice_parse(query: QueryDict) -> tuple[PreviewChoice, dict[str, str]]:
    """The choice in the preview request's ``tailor_*`` parameters, and the problem with each one refused."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    segment = query.get(f"{PREFIX}segment", "").strip()
    if segment:
        known = {spec.key for spec in catalog_get().segments.values()}
        if segment in known:
            values["segment"] = segment
        else:
            errors[f"{PREFIX}segment"] = f"no segment has the key {segment[:64]!r}"
    device = query.get(f"{PREFIX}device", "").strip().lower()
    if device:
        if device in PREVIEW_DEVICES:
            values["device"] = device
        else:
            errors[f"{PREFIX}device"] = f"must be one of {', '.join(PREVIEW_DEVICES)}"
    if width := query.get(f"{PREFIX}width", "").strip():
        values["width"] = _whole(width, f"{PREFIX}width", 1, 10_000, errors)
    if source := query.get(f"{PREFIX}utm_source", "").strip():
        values["utm_source"] = source[:200]
    if country := query.get(f"{PREFIX}country", "").strip().upper():
        if len(country) == 2 and country.isalpha() and country.isascii():
            values["country"] = country
        else:
            errors[f"{PREFIX}country"] = "must be a two-letter country code (GB, FR...)"
    if hour := query.get(f"{PREFIX}hour", "").strip():
        values["hour"] = _whole(hour, f"{PREFIX}hour", 0, 23, errors)
    logged_in = query.get(f"{PREFIX}logged_in", "").strip().lower()
    if logged_in in ("1", "true", "yes"):
        values["logged_in"] = True
    elif logged_in in ("0", "false", "no"):
        values["logged_in"] = False
    elif logged_in:
        errors[f"{PREFIX}logged_in"] = "must be 1 or 0"
    if raw_visitor := query.get(f"{PREFIX}visitor", "").strip():
        visitor_id = visitor_id_parse(raw_visitor)
        if visitor_id is None:
            errors[f"{PREFIX}visitor"] = "is not a visitor id"
        else:
            values["visitor_id"] = visitor_id
    return PreviewChoice(**{k: v for k, v in values.items() if v is not None}), errors


def preview_choice_get(request: Any) -> PreviewChoice:
    """The editor's choice for this preview request; an empty choice for someone who may not use the admin."""
    query = _outer_query.get()
    user = getattr(request, "user", None)
    if not query or user is None or not user.is_authenticated or not user.has_perm(ADMIN_ACCESS):
        return PreviewChoice()
    choice, errors = preview_choice_parse(QueryDict(query))
    if errors:
        # The panel's control only sends valid values: a hand-edited URL gets what it asked for, minus these.
        logger.warning("Preview choices ignored: %s", "; ".join(f"{k} {v}" for k, v in errors.items()))
    return choice


def _last_context(visitor_id: str) -> dict[str, Any] | None:
    """The context of the visitor's last decision (made with their consent), or None."""
    context = (
        DecisionLog.objects.filter(visitor_id=visitor_id, is_bot=False)
        .exclude(policy="no-consent")
        .order_by("-created_at")
        .values_list("context", flat=True)
        .first()
    )
    return None if context is None else dict(context)


def preview_state(request: Any) -> tuple[VisitorState, dict[str, Any], PreviewChoice]:
    """The visitor and context a preview decides for: the chosen ones, over a new visitor's (or a sampled one's).

    Without a choice, a preview shows what a new, signed-out visitor on this device would see: not the
    editor's own visitor, whose history (and stickiness) would make the preview theirs alone.
    """
    choice = preview_choice_get(request)
    visitor = VisitorState(id="", is_new=True)
    context = request_context(request, visitor)
    if choice.visitor_id:
        last = _last_context(choice.visitor_id)
        consent = consent_for(choice.visitor_id, None, headless=True, known=True)
        if last is None or not consent.personalization:
            logger.warning("Preview as visitor %s ignored: no recent decision with consent.", choice.visitor_id)
        else:
            # Their last context (device, source, country, time...); their features are read fresh by decide().
            snapshot = {k: v for k, v in dict(last).items() if k != "features"}
            visits = int(snapshot.get("visit_count") or 1)
            visitor = VisitorState(
                id=choice.visitor_id,
                visit_count=visits,
                is_returning=visits > 1,
                is_authenticated=bool(snapshot.get("is_authenticated")),
                analytics_consent=consent.analytics,
                personalization_consent=True,
            )
            context = {**snapshot, "visitor_id": choice.visitor_id, "visit_count": visits}
    if device := choice.preview_device:
        context["device"] = device
    if choice.utm_source:
        context["utm_source"] = choice.utm_source
        context["utm"] = {**dict(context.get("utm") or {}), "source": choice.utm_source}
    if choice.country:
        context["country"] = choice.country
    if choice.hour is not None:
        context["hour"] = choice.hour
    if choice.logged_in is not None:
        context["is_authenticated"] = choice.logged_in
        visitor = dataclasses.replace(visitor, is_authenticated=choice.logged_in)
    return visitor, context, choice


@dataclass(frozen=True, slots=True)
class _Membership:
    """A segment that matches by the editor's say-so: previewing "as a segment" needs no context that fits it."""

    key: str
    member: bool
    uses_features: bool = False

    def matches(self, context: Context) -> bool:
        return self.member


def preview_slot(slot_key: str, choice: PreviewChoice) -> CompiledSlot:
    """The slot as a visitor in the chosen segment (and in none of its other segments) meets it.

    Every policy that targets segments (rules, bandits) holds them as ``rules``: (segment, variant) pairs.
    """
    compiled = slot_get(slot_key)
    rules = getattr(compiled.policy, "rules", None)
    if not choice.segment or not rules or not dataclasses.is_dataclass(compiled.policy):
        return compiled
    forced = tuple((_Membership(spec.key, spec.key == choice.segment), variant) for spec, variant in rules)
    return dataclasses.replace(compiled, policy=dataclasses.replace(compiled.policy, rules=forced))


@dataclass(frozen=True)
class SampledVisitor:
    id: str
    label: str


def preview_visitors_sample(limit: int = 8, scan: int = 500) -> list[SampledVisitor]:
    """Recent real visitors who consented to personalization, newest first, described without personal data."""
    rows = (
        DecisionLog.objects.filter(visitor_id__isnull=False, is_bot=False)
        .exclude(policy="no-consent")
        .order_by("-created_at")
        .values_list("visitor_id", "context", "created_at")[:scan]
    )
    sampled: list[SampledVisitor] = []
    seen: set[str] = set()
    now = timezone.now()
    for raw_id, snapshot, created_at in rows:
        visitor_id = str(raw_id)
        if visitor_id in seen:
            continue
        seen.add(visitor_id)
        if not consent_for(visitor_id, None, headless=True, known=True).personalization:
            continue
        sampled.append(SampledVisitor(visitor_id, _visitor_label(visitor_id, dict(snapshot or {}), created_at, now)))
        if len(sampled) >= limit:
            break
    return sampled


def _visitor_label(visitor_id: str, snapshot: dict[str, Any], at: datetime, now: datetime) -> str:
    parts = [f"Visitor {visitor_id[:8]}", str(snapshot.get("device") or "desktop")]
    if country := snapshot.get("country"):
        parts.append(str(country))
    if source := dict(snapshot.get("utm") or {}).get("source"):
        parts.append(f"from {source}")
    visits = int(snapshot.get("visit_count") or 1)
    parts.append(f"{visits} visit{'s' if visits != 1 else ''}")
    minutes = max(0, int((now - at).total_seconds() // 60))
    parts.append(f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago")
    return " · ".join(parts)
