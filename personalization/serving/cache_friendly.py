"""Cache-friendly slots: the same HTML for every visitor, personalized in the browser.

With ``TAILOR["CACHE_FRIENDLY"]`` on, a page is meant to be cached whole by a CDN or a reverse proxy, so a slot
renders its default variant (or nothing) inside a marker, ``<div data-tailor-slot="key" data-tailor-pending>``,
with no decision, no decision id and no visitor data: nothing in it depends on who asked. tracker.js then asks
``POST /api/v1/decisions/`` for every marker of the page in one request and swaps each visitor's own variant in;
the impressions and clicks carry the decision ids that answer returned. A triggered slot renders its default
without ``data-tailor-pending``: it is asked for when its trigger fires, as it is without the mode. The page's
URL is remembered for the slot (``content.cache_purge.slot_url_seen``), so that publishing the slot purges it
from the frontend cache even when a template, not a StreamField, places the slot.

The marker is the slot's box: tracker.js keeps its height when it swaps the content, and the
``{% tracking_head %}`` style hides pending markers (their space kept) until then, for at most
``CACHE_FRIENDLY_HIDE_MS``, so the default never flashes and nothing below the slot moves.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString

from content.cache_purge import slot_url_seen
from content.rendering import template_render
from personalization.engine.context import Context
from personalization.engine.policies import FixedPolicy
from personalization.serving.catalog import CompiledSlot
from personalization.serving.decide import EmptySlotError, slot_get
from tracking.conf import setting
from tracking.middleware import request_tailor

logger = logging.getLogger(__name__)

_NO_RANDOMNESS = random.Random(0)  # noqa: S311 - the fixed policy draws nothing; choose() takes a source all the same


def cache_friendly(request: Any) -> bool:
    """Whether this request's slots render as markers: the mode is on and it is not an editor's preview."""
    return bool(setting("CACHE_FRIENDLY")) and request is not None and not getattr(request, "is_preview", False)


def slot_marker(slot_key: str, request: Any) -> SafeString:
    """The slot's default variant in its marker; raises UnknownSlotError or EmptySlotError as ``decide()`` does.

    The default is rendered without placeholder values (each placeholder takes its fallback), so no visitor's
    first name or context reaches a page that a cache shows everyone.
    """
    compiled = slot_get(slot_key)
    if not compiled.candidates:
        raise EmptySlotError(f"Slot {compiled.key!r} has no live variants.")
    request_tailor(request).shared = True
    # A shared cache may now hold this URL with the slot's default: purged with the slot's pages when it is published.
    slot_url_seen(compiled.key, request.build_absolute_uri())
    trigger = compiled.definition.trigger
    return format_html(
        '<div data-tailor-slot="{}"{}>{}</div>',
        compiled.key,
        format_html(' data-tailor-trigger="{}"', trigger) if trigger else SafeString(" data-tailor-pending"),
        _default_render(compiled),
    )


def _default_render(compiled: CompiledSlot) -> SafeString:
    choice = FixedPolicy(default_key=compiled.definition.default_variant).choose(
        compiled.candidates, Context(), _NO_RANDOMNESS
    )
    variant = compiled.variants[choice.key]
    try:
        body = template_render(variant.template, variant.params, {})
    except Exception:  # the page is never broken by personalization: the marker stays, empty, for the tracker
        logger.exception("The default variant %r of slot %r failed to render.", variant.key, compiled.key)
        return SafeString("")
    # The variant's usual wrapper without a decision: the same class and variant key as a personalized render.
    return format_html(
        '<div class="tailor-slot tailor-{}" data-tailor-variant="{}">{}</div>', variant.template, variant.key, body
    )
