"""Batch scoring: model scores per recently active visitor, cached for serving.

A worker scores every recently active visitor against each model slot's
active model, in batches, and caches ``{variant: score}`` per (slot, model
version, visitor) with a TTL, tagged with the signature of the context it was
scored in (the visitor's last decision context). ``decide()`` reads that entry
(one cache read) and uses it when the request's context has the same
signature; otherwise, on a miss, or when the cache is down, the policy scores
in-process with the same loaded model, so serving never fails for want of a
score and never serves scores computed for another context. A slot exploring by
Thompson sampling serves a visitor whose context cell its table holds without
scores, so only its other visitors are scored.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from personalization.engine import Context
from personalization.engine.featurize import VariantFeatures, context_features, context_signature
from personalization.serving.catalog import catalog_get
from personalization.serving.scores import SCORES_TTL_SECONDS, scores_key
from tracking.feature_store import visitor_features_get
from tracking.metrics import ROWS_SKIPPED
from tracking.models import DecisionLog, Visitor
from tracking.outages import outage_guard


class ScoringError(RuntimeError):
    """Nothing can be scored as asked: no such model slot, no active model, or the cache refused the scores."""


def logged_context_read(mapping: Any) -> Context | None:
    """The logged context as the model sees it, or None when it cannot be featurized.

    Such a row was written by hand, by an old import or before the API bounded its numbers
    (``visit_count`` 10**400 overflows a float): the job leaves it out instead of failing.
    """
    try:
        context = Context.from_mapping(mapping or {})
        context_features(context)
    except (TypeError, ValueError, AttributeError, OverflowError):
        return None
    return context


def _latest_contexts(visitor_ids: list[Any]) -> dict[str, dict[str, Any]]:
    """Each visitor's most recent decision context: what we last knew about their device, source and time."""
    latest: dict[str, dict[str, Any]] = {}
    rows = DecisionLog.objects.filter(visitor_id__in=visitor_ids).order_by("visitor_id", "-created_at")
    for visitor_id, context in rows.values_list("visitor_id", "context").iterator(chunk_size=2000):
        latest.setdefault(str(visitor_id), context or {})
    return latest


def visitors_score(
    *,
    slot_key: str | None = None,
    active_within: timedelta = timedelta(hours=1),
    batch_size: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Score recently active visitors for every model slot with an active model; returns how many scores were cached."""
    compiled = catalog_get().slots
    if slot_key is not None:
        slot = compiled.get(slot_key)
        if slot is None:
            raise ScoringError(f"No published slot has the key {slot_key!r}.")
        if slot.policy.name != "model":
            raise ScoringError(f"Slot {slot_key!r} uses the {slot.definition.strategy!r} strategy, not 'model'.")
        if getattr(slot.policy, "model", None) is None:
            raise ScoringError(f"Slot {slot_key!r} has no active model yet: train one first (train_models).")
    slots = [
        slot
        for key, slot in compiled.items()
        if slot.policy.name == "model" and getattr(slot.policy, "model", None) is not None and slot_key in (None, key)
    ]
    if not slots:
        return 0
    since = timezone.now() - active_within
    visitor_ids = list(Visitor.objects.filter(last_seen_at__gte=since).values_list("id", flat=True))
    cached = 0
    for start in range(0, len(visitor_ids), batch_size):
        batch = visitor_ids[start : start + batch_size]
        contexts = _latest_contexts(batch)
        visitors, built = [], []
        for v, logged in contexts.items():
            context = (
                logged_context_read({**logged, "visitor_id": v, "features": visitor_features_get(v)})
                if isinstance(logged, dict)
                else None
            )
            if context is None:
                ROWS_SKIPPED.labels(job="scoring").inc()  # this visitor is scored in-process when next served
                continue
            visitors.append(v)
            built.append(context)
        signatures = [context_signature(context) for context in built]
        for slot in slots:
            policy = slot.policy
            # A visitor whose Thompson cell the model's table holds is served from the table: no scores to cache.
            wanted = [i for i, context in enumerate(built) if policy.scores_needed(context)]
            if not wanted:
                continue
            keys = [c.key for c in slot.candidates]
            variants = [policy.variants.get(k) or VariantFeatures(key=k, template="") for k in keys]
            scores = policy.model.score([built[i] for i in wanted], variants)  # each visitor and variant encoded once
            entries = {
                scores_key(slot.key, policy.model_version, visitors[i]): {
                    "context": signatures[i],
                    "scores": dict(zip(keys, map(float, row), strict=True)),
                }
                for i, row in zip(wanted, scores, strict=True)
            }
            with outage_guard("cache", "scores not cached; serving scores in-process meanwhile") as outage:
                cache.set_many(entries, timeout=SCORES_TTL_SECONDS)
            if outage.failed:
                raise ScoringError(
                    f"The cache refused the scores ({outage.error}); serving scores in-process meanwhile."
                ) from outage.error
            cached += len(entries)
        if progress:
            progress(start + len(batch), len(visitor_ids))
    return cached
