"""Cached scores: what the scoring worker computed for a visitor, read by ``decide()`` in one cache read.

An entry is ``{variant: score}`` per (slot, model version, visitor), tagged with the
signature of the context it was scored in; serving uses it only for that very context
and otherwise scores in-process (``learning.scoring`` writes the entries).
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.cache import cache

from personalization.engine import Context
from personalization.engine.featurize import context_signature
from tracking.outages import outage_guard

from .catalog import catalog_get

SCORES_TTL_SECONDS = 15 * 60


def scores_key(slot_key: str, model_version: str, visitor_id: str) -> str:
    return f"tailor:scores:{slot_key}:{model_version}:{visitor_id}"


def visitor_scores_keys(visitor_ids: Sequence[str]) -> list[str]:
    """These visitors' entries under every model slot's active version: erasure and retention delete them.

    Registered with ``tracking.visitor_cache`` at start-up. An entry of a version replaced since
    it was written is no longer served, and ends with ``SCORES_TTL_SECONDS``.
    """
    versions = [
        (slot.key, slot.policy.model_version) for slot in catalog_get().slots.values() if slot.policy.model_version
    ]
    return [scores_key(slot_key, version, v) for slot_key, version in versions for v in visitor_ids]


def cached_scores_get(slot_key: str, model_version: str, context: Context) -> dict[str, float] | None:
    """The visitor's scores from the last scoring run, if they were computed for this very context."""
    with outage_guard("cache", "cached scores not read; scoring in-process") as outage:
        entry = cache.get(scores_key(slot_key, model_version, context.visitor_id))
    if outage.failed:
        return None
    if not entry or entry.get("context") != context_signature(context):
        return None  # scored for another device, campaign, hour or visit: score this request in-process
    scores: dict[str, float] = entry["scores"]
    return scores
