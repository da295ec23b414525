"""``decide()``: the one entry point that chooses a variant for a visitor.

The template tag, the StreamField block and the API all come through here.
The slot's compiled policy (from the in-memory catalog) chooses among the live
variants; the decision gets an id and goes, with its propensity, policy and
published revision, to the sink the caller names (``tracking.decision_sinks``:
the request's batch on a page; written at once by default). A policy that fails falls
back to the default variant, logs why and counts it: a page is never broken by
personalization.

Before the slot's policy, a visitor with an id and consent may be assigned elsewhere, by
sticky hashes: to the slot's holdout (always the default, logged as policy "holdout"), else to
the arm of the experiment running on the slot (policy "experiment", its key as the version).
The holdout comes first so that it measures doing nothing against everything else, the
experiment included. Anonymous calls are never in either.

A slot with frequency caps or novelty decay (``engine.caps``) reads the visitor's exposures before
its policy chooses (not for the holdout or an experiment's arm: they measure, and must not be
thinned): a capped variant leaves the candidates, novelty reweights the rest, and with every variant
capped the default is shown, logged as policy "capped". The decision's view is recorded in the sink.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django.utils.safestring import SafeString

from content.placeholders import CONTEXT_FIELDS
from content.rendering import params_personalize, variant_render
from content.selectors import VariantDefinition
from personalization.engine import Choice, Context, FixedPolicy, NoCandidatesError
from personalization.engine.caps import ExposureBook, candidates_allowed, capped_choose, novelty_weights
from personalization.engine.experiments import holdout_contains
from personalization.engine.model_policy import ModelPolicy
from personalization.serving.catalog import CompiledSlot, catalog_get
from personalization.serving.exposures import exposure_day, exposures_get, exposures_put
from personalization.serving.scores import cached_scores_get
from tracking.decision_sinks import WRITE_NOW, DecisionSink
from tracking.feature_store import visitor_features_get
from tracking.metrics import FALLBACKS
from tracking.visitors import VisitorState

logger = logging.getLogger(__name__)

_rng = random.Random()  # noqa: S311 - exploration randomness, not security


class UnknownSlotError(LookupError):
    """No published slot has this key."""


class EmptySlotError(LookupError):
    """The slot has no live variant."""


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    slot_key: str
    variant: VariantDefinition
    propensity: float
    policy: str
    policy_version: str
    revision_id: int | None
    reason: str
    trigger: str = ""


def slot_get(key: str) -> CompiledSlot:
    slot = catalog_get().slots.get(key)
    if slot is None:
        raise UnknownSlotError(f"No published slot has the key {key!r}.")
    return slot


def slot_keys_live() -> frozenset[str]:
    return frozenset(catalog_get().slots)


def features_wanted(slot: CompiledSlot, visitor: VisitorState) -> bool:
    """Whether a decision of ``slot`` reads ``visitor``'s real-time features (a known id, with personalization consent)."""
    return slot.needs_features and bool(visitor.id and visitor.personalization_consent)


def _choose(slot: CompiledSlot, context: Context, rng: random.Random) -> tuple[Choice, str, str]:
    policy = slot.policy
    try:
        # A model policy's version is the model version it serves: that is what offline evaluation needs.
        version = policy.model_version or policy.version
        choice = policy.choose(slot.candidates, context, rng)
        # A bandit's choice names the allocation it drew from: the version its propensity belongs to.
        return choice, policy.name, choice.version or version
    except NoCandidatesError:
        raise
    except Exception:  # a page is never broken by personalization
        FALLBACKS.labels(slot=slot.key, policy=policy.name).inc()
        logger.exception("Policy %r failed for slot %r; serving the default variant.", policy.name, slot.key)
        return _default(slot, context, rng, "fallback")


@dataclass
class _Exposures:
    """The visitor's exposures for a capped slot, read only when its policy is about to choose."""

    visitor_id: str
    sink: DecisionSink
    day: int
    visit: int
    book: ExposureBook | None = None  # set once read (None again if the cache is down)

    def read(self) -> ExposureBook | None:
        self.book = exposures_get(self.visitor_id, self.sink)
        return self.book


def _choose_capped(
    slot: CompiledSlot, context: Context, rng: random.Random, exposures: _Exposures
) -> tuple[Choice, str, str]:
    """The slot's policy over the variants this visitor may still see, reweighted for novelty."""
    book = exposures.read()
    if book is None:
        return _choose(slot, context, rng)
    history = book.history(slot.key)
    allowed = candidates_allowed(slot.candidates, history, slot.caps, day=exposures.day, visit=exposures.visit)
    weights = novelty_weights(allowed, history, slot.caps)
    if len(allowed) == len(slot.candidates) and all(w == 1.0 for w in weights.values()):
        return _choose(slot, context, rng)  # nothing binds for this visitor yet: the policy as usual (sticky)
    policy = slot.policy
    try:
        choice = capped_choose(policy, allowed, weights, context, rng) if allowed else None
    except Exception:  # a page is never broken by personalization
        FALLBACKS.labels(slot=slot.key, policy=policy.name).inc()
        logger.exception("Policy %r failed for slot %r; serving the default variant.", policy.name, slot.key)
        return _default(slot, context, rng, "fallback")
    if choice is None:
        choice, _, version = _default(slot, context, rng, "capped")
        return dataclasses.replace(choice, reason="capped"), "capped", version
    return choice, policy.name, choice.version or policy.model_version or policy.version


def _assign(
    slot: CompiledSlot,
    visitor_id: str,
    context: Context,
    rng: random.Random,
    exposures: _Exposures | None = None,
) -> tuple[Choice, str, str]:
    """The holdout's default, the running experiment's arm, or else the slot's own policy (capped)."""
    if visitor_id:
        if holdout_contains(slot.key, visitor_id, slot.definition.holdout_share):
            choice, _, version = _default(slot, context, rng, "holdout")
            return dataclasses.replace(choice, reason="holdout"), "holdout", version
        experiment = slot.experiment_running(time.time()) if slot.experiments else None
        if experiment is not None:
            arm = experiment.assign(visitor_id)
            if arm is not None:
                return arm, "experiment", experiment.key
    if exposures is not None:
        return _choose_capped(slot, context, rng, exposures)
    return _choose(slot, context, rng)


def _default(slot: CompiledSlot, context: Context, rng: random.Random, why: str) -> tuple[Choice, str, str]:
    """The slot's default variant, logged under a policy name that says why it was not personalized."""
    fixed = FixedPolicy(default_key=slot.definition.default_variant)
    return fixed.choose(slot.candidates, context, rng), why, fixed.version


def decide(
    slot: str | CompiledSlot,
    visitor: VisitorState,
    context: Mapping[str, Any] | Context,
    *,
    sink: DecisionSink = WRITE_NOW,
    rng: random.Random | None = None,
    initial: bool = False,
) -> Decision:
    """Choose a variant of ``slot`` for ``visitor`` and record the decision in ``sink``.

    ``initial=True`` is the server-side render of a page: a slot with a trigger
    then shows its default, and the tracker asks again when the trigger fires.
    """
    compiled = slot_get(slot) if isinstance(slot, str) else slot
    if not compiled.candidates:
        raise EmptySlotError(f"Slot {compiled.key!r} has no live variants.")
    personal = bool(visitor.id and visitor.personalization_consent)
    if isinstance(context, Context):
        # Built once for every slot of a page (serving.render); completed below as a mapping is.
        features_given = bool(context.features)
        if context.visitor_id != visitor.id:
            context = dataclasses.replace(context, visitor_id=visitor.id)
    else:
        features_given = "features" in context
        context = Context.from_mapping({**context, "visitor_id": visitor.id})
    if features_wanted(compiled, visitor) and not features_given:
        features = visitor_features_get(visitor.id, known=not visitor.is_new)
        context = dataclasses.replace(context, features=MappingProxyType(dict(features)))
    policy = compiled.policy
    if isinstance(policy, ModelPolicy) and personal and not visitor.is_new and not initial and not context.scores:
        version = policy.model_version
        # A visitor whose Thompson cell the table holds is served without scores: no cache read for them.
        scores = (
            cached_scores_get(compiled.key, version, context) if version and policy.scores_needed(context) else None
        )
        if scores:
            context = dataclasses.replace(context, scores=MappingProxyType(scores))
    rng = rng or _rng
    now = time.time()
    exposures: _Exposures | None = None
    # Shown to a crawler (by its user agent, or a context that says so): kept for the record, never learned from.
    is_bot = visitor.is_bot or context.device == "bot"
    if initial and compiled.definition.trigger:
        # A triggered slot shows its default until the trigger fires and the tracker asks again.
        choice, policy_name, policy_version = _default(compiled, context, rng, "trigger-default")
    elif visitor.personalization_consent:
        if visitor.id and compiled.caps.active:
            exposures = _Exposures(visitor.id, sink, exposure_day(now), visitor.visit_count)
        choice, policy_name, policy_version = _assign(compiled, visitor.id, context, rng, exposures)
    else:
        # No personalization consent: everyone gets the default, and nothing per visitor is kept.
        choice, policy_name, policy_version = _default(compiled, context, rng, "no-consent")
        context = Context(device=context.device, hour=context.hour, weekday=context.weekday)
        visitor = VisitorState(id="")
    decision = Decision(
        id=uuid.uuid4().hex,
        slot_key=compiled.key,
        variant=compiled.variants[choice.key],
        propensity=choice.propensity,
        policy=policy_name,
        policy_version=policy_version,
        revision_id=compiled.definition.revision_id,
        reason=choice.reason,
        trigger=compiled.definition.trigger if initial else "",
    )
    sink.add(
        {
            "id": decision.id,
            "ts": now,
            "visitor_id": visitor.id or None,
            "user_id": visitor.user_id,
            "visit_count": visitor.visit_count,
            "slot_key": decision.slot_key,
            "variant_key": decision.variant.key,
            "revision_id": decision.revision_id,
            "policy": decision.policy,
            "policy_version": decision.policy_version,
            "propensity": decision.propensity,
            "reason": decision.reason,
            "context": context.snapshot(),
            "is_bot": is_bot,
        }
    )
    if exposures is not None and exposures.book is not None:
        # Served is what counts (see serving.exposures); recorded with the decision, no database write.
        book = exposures.book.viewed(
            decision.id, decision.slot_key, decision.variant.key, day=exposures.day, visit=exposures.visit, at=now
        )
        exposures_put(visitor.id, book, sink)
    return decision


def placeholder_values(visitor: VisitorState, context: Mapping[str, Any]) -> dict[str, object]:
    """The allow-listed values editor text may use, by placeholder name."""
    values: dict[str, object] = {"visitor.first_name": visitor.first_name, "visitor.visit_count": visitor.visit_count}
    for field in CONTEXT_FIELDS:
        values[field] = context.get(field.removeprefix("context."), "")
    for name, value in (context.get("attributes") or {}).items():
        values[f"context.{name}"] = value
    return values


def decision_params(
    decision: Decision,
    visitor: VisitorState,
    context: Mapping[str, Any],
    *,
    values: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """``values``: the request's placeholder values when the caller has them (one page, several slots)."""
    return params_personalize(
        decision.variant.params, placeholder_values(visitor, context) if values is None else values
    )


def decision_render(
    decision: Decision,
    visitor: VisitorState,
    context: Mapping[str, Any],
    *,
    values: Mapping[str, object] | None = None,
) -> SafeString:
    return variant_render(
        slot_key=decision.slot_key,
        variant_key=decision.variant.key,
        template_key=decision.variant.template,
        params=decision.variant.params,
        decision_id=decision.id,
        values=placeholder_values(visitor, context) if values is None else values,
        trigger=decision.trigger,
    )
