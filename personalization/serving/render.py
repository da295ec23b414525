"""Rendering a slot for a request: what the template tag, SlotBlock and pages API share.

Resolves the visitor and context from the request, calls ``decide()`` and
renders or represents the decision. An unknown or empty slot renders nothing
and logs a warning; with DEBUG on, an HTML comment says why so a developer
sees it in the page source.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any
from weakref import WeakKeyDictionary

from django.conf import settings
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from content.rendering import params_personalize
from personalization.engine import Context
from personalization.serving import preview as previews
from personalization.serving import render_counts
from personalization.serving.cache_friendly import cache_friendly, slot_marker
from personalization.serving.catalog import CompiledSlot
from personalization.serving.decide import (
    Decision,
    EmptySlotError,
    UnknownSlotError,
    decide,
    decision_params,
    decision_render,
    features_wanted,
    placeholder_values,
    slot_get,
)
from personalization.serving.exposures import exposures_read_along
from tracking.decision_sinks import DISCARD, WRITE_NOW, DecisionSink
from tracking.feature_store import visitor_features_get
from tracking.middleware import RequestTailor, request_tailor
from tracking.visitors import VisitorState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RenderedDecision:
    """A decision with its HTML; prints as the HTML, and exposes the variant for ``{% personalize ... as choice %}``."""

    decision: Decision
    html: SafeString
    values: Mapping[str, object]  # the request's placeholder values

    @cached_property
    def params(self) -> dict[str, Any]:
        # Only a template that uses ``as choice`` reads them: built then, not for every slot.
        return params_personalize(self.decision.variant.params, self.values)

    @property
    def decision_id(self) -> str:
        return self.decision.id

    @property
    def variant(self) -> Any:
        return self.decision.variant

    @property
    def key(self) -> str:
        return self.decision.variant.key

    def __html__(self) -> str:
        return str(self.html)

    def __str__(self) -> str:
        return str(self.html)


@dataclass(frozen=True)
class _RequestState:
    """What every slot of one request shares: built once per request, not once per slot."""

    visitor: VisitorState
    context: dict[str, Any]
    sink: DecisionSink  # the request's batch, written after the response
    values: Mapping[str, object]  # placeholder values
    preview: previews.PreviewChoice | None = None  # a Wagtail preview: whom the editor previews as

    @cached_property
    def engine_context(self) -> Context:
        """``context`` as ``decide()`` reads it (and logs it: its snapshot is made once for the page)."""
        return Context.from_mapping({**self.context, "visitor_id": self.visitor.id})

    @cached_property
    def _engine_context_featured(self) -> Context:
        features = visitor_features_get(self.visitor.id, known=not self.visitor.is_new)
        return dataclasses.replace(self.engine_context, features=MappingProxyType(dict(features)))

    def engine_context_for(self, slot: CompiledSlot) -> Context:
        """The context for ``slot``: with the visitor's features if it reads them (read once for the page)."""
        if features_wanted(slot, self.visitor):
            return self._engine_context_featured
        return self.engine_context


_states: WeakKeyDictionary[RequestTailor, _RequestState] = WeakKeyDictionary()


def _request_state(request: Any) -> _RequestState:
    if request is None:
        return _RequestState(VisitorState(id=""), {}, WRITE_NOW, placeholder_values(VisitorState(id=""), {}))
    tailor = request_tailor(request)
    state = _states.get(tailor)
    if state is None and getattr(request, "is_preview", False):
        # A Wagtail preview: the editor's chosen visitor and context, and nothing recorded (serving.preview).
        visitor, context, choice = previews.preview_state(request)
        state = _RequestState(visitor, context, DISCARD, placeholder_values(visitor, context), preview=choice)
        _states[tailor] = state
    if state is None:
        exposures_read_along(tailor)
        visitor, context = tailor.visitor, tailor.context
        state = _RequestState(visitor, context, tailor.decisions, placeholder_values(visitor, context))
        _states[tailor] = state
    return state


def _explain(slot_key: str, why: str) -> SafeString:
    logger.warning("Slot %r rendered nothing: %s", slot_key, why)
    if settings.DEBUG:
        text = escape(f"tailor: slot {slot_key!r} rendered nothing: {why}").replace("--", "&#45;&#45;")
        return mark_safe(f"<!-- {text} -->")  # noqa: S308 - escaped above
    return SafeString("")


def slot_render(slot_key: str, request: Any) -> RenderedDecision | SafeString:
    if not slot_key:
        return _explain(slot_key, "no slot chosen")
    if cache_friendly(request):
        # The same HTML for everyone; tracker.js asks for this visitor's variant (serving.cache_friendly).
        try:
            return slot_marker(slot_key, request)
        except UnknownSlotError:
            return _explain(slot_key, "no published slot has this key")
        except EmptySlotError:
            return _explain(slot_key, "the slot has no live variants")
    state = _request_state(request)
    try:
        if state.preview is None:
            slot = slot_get(slot_key)
            decision = decide(slot, state.visitor, state.engine_context_for(slot), sink=state.sink, initial=True)
        else:
            # A preview shows what the visitor gets, a triggered slot's variant included (no tracker asks later).
            slot = previews.preview_slot(slot_key, state.preview)
            decision = decide(slot, state.visitor, state.engine_context_for(slot), sink=state.sink)
    except UnknownSlotError:
        return _explain(slot_key, "no published slot has this key")
    except EmptySlotError:
        return _explain(slot_key, "the slot has no live variants")
    html = _render_counted(decision, state.visitor, state.context, state.values, counted=state.preview is None)
    if html is None:
        return _explain(slot_key, f"the micro-template of variant {decision.variant.key!r} failed")
    return RenderedDecision(decision=decision, html=html, values=state.values)


def _render_counted(
    decision: Decision,
    visitor: VisitorState,
    context: dict[str, Any],
    values: Mapping[str, object] | None,
    *,
    counted: bool = True,
) -> SafeString | None:
    """The decision's HTML, counted for the guardrails (unless a preview); None when its micro-template raised.

    A variant whose template fails (a bad parameter, a template an upgrade broke) leaves its place
    empty rather than break the page; the guardrail job reads these counts and pauses it.
    """
    slot_key, variant_key = decision.slot_key, decision.variant.key
    try:
        html = decision_render(decision, visitor, context, values=values)
    except Exception:  # a page is never broken by personalization: counted, logged, left empty
        logger.exception("Variant %r of slot %r failed to render; its place stays empty.", variant_key, slot_key)
        if counted:
            render_counts.render_count(slot_key, variant_key, failed=True)
        return None
    if counted:
        render_counts.render_count(slot_key, variant_key, failed=False)
    return html


def decision_represent(
    decision: Decision, visitor: VisitorState, context: dict[str, Any], *, html: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "slot": decision.slot_key,
        "decision_id": decision.id,
        "variant": {
            "key": decision.variant.key,
            "template": decision.variant.template,
            "params": decision_params(decision, visitor, context),
        },
        "propensity": decision.propensity,
        "policy": decision.policy,
    }
    if decision.trigger:
        out["trigger"] = decision.trigger
    if html:
        rendered = _render_counted(decision, visitor, context, None)
        out["html"] = str(rendered) if rendered is not None else ""
    return out


class SlotBlockRenderer:
    """Registered with content at start-up so SlotBlock can reach ``decide()`` without importing it."""

    def render(self, slot_key: str, request: Any) -> str:
        return str(slot_render(slot_key, request))

    def represent(self, slot_key: str, request: Any) -> dict[str, Any] | None:
        state = _request_state(request)
        try:
            slot = slot_get(slot_key)
            decision = decide(slot, state.visitor, state.engine_context_for(slot), sink=state.sink, initial=True)
        except (UnknownSlotError, EmptySlotError) as exc:
            logger.warning("Slot %r omitted from the API: %s", slot_key, exc)
            return None
        return decision_represent(decision, state.visitor, state.context, html=False)
