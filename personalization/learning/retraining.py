"""Continuous retraining: a model slot retrains as soon as enough new outcomes have come in.

The hourly beat trains every model slot; a busy slot should not wait that long to learn
from its own exploration. ``models_retrain_due`` (run by beat every minute, and callable
after an ingest batch) retrains each live model slot whose ``retrain_every`` (N) new
learnable decisions have a *known outcome* since its last training, once that training is
at least ``RETRAIN_MIN_INTERVAL_SECONDS`` old. Training is the usual ``model_train``: the
candidate is promoted only if the offline evaluation says it is not worse.

A decision's outcome is known when the visitor saw the slot (an impression event is
logged for it) or when the attribution window has passed since it was shown (no click
and no conversion can still be credited to it). Counting decisions nobody has yet seen
would retrain on rows whose reward is still zero for want of time, not of interest.
"Since its last training" is since the last decision the newest model version of the
slot read (its ``window_end``), whether or not that version was promoted: a candidate
kept back already learned from those rows, and training on them again would repeat it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import caches
from django.db.models import Count, Exists, Max, OuterRef, Q
from django.utils import timezone

from personalization.conf import setting
from personalization.learning.training import NOT_LEARNED_FROM, TrainingError, model_train
from personalization.models import ModelVersion
from personalization.serving.catalog import catalog_get
from tracking.conf import setting as tracking_setting
from tracking.models import DecisionLog, Event
from tracking.outages import outage_guard

logger = logging.getLogger(__name__)

ATTEMPT_KEY = "tailor:retrain-attempt:{slot}"
CLAIM_SECONDS = 2000  # a training under way holds its mark at most this long (the task's hard time limit)


@dataclass(frozen=True, slots=True)
class SlotDue:
    slot: str
    every: int  # the slot's retrain_every
    since: datetime | None  # the last decision its newest model version read; None: never trained


def _min_interval(seconds: float | None) -> float:
    return float(setting("RETRAIN_MIN_INTERVAL_SECONDS") if seconds is None else seconds)


def slots_retrain_pending(now: datetime | None = None, min_interval_seconds: float | None = None) -> list[SlotDue]:
    """Live model slots that retrain continuously and whose last training is old enough to retrain again."""
    now = now or timezone.now()
    interval = timedelta(seconds=_min_interval(min_interval_seconds))
    every = {
        key: slot.definition.retrain_every
        for key, slot in catalog_get().slots.items()
        if slot.definition.strategy == "model" and slot.definition.retrain_every > 0
    }
    if not every:
        return []
    latest = {
        row["slot_key"]: (row["trained_at"], row["read_until"])
        for row in ModelVersion.objects.filter(slot_key__in=every)
        .values("slot_key")
        .annotate(trained_at=Max("created_at"), read_until=Max("window_end"))
    }
    pending = []
    for key in sorted(every):
        trained_at, read_until = latest.get(key, (None, None))
        if trained_at is not None and now - trained_at < interval:
            continue
        pending.append(SlotDue(key, every[key], read_until))
    return pending


def decisions_known_count(pending: list[SlotDue], now: datetime | None = None) -> dict[str, int]:
    """Per slot, the learnable decisions since its last training whose outcome is known: one aggregate query."""
    if not pending:
        return {}
    now = now or timezone.now()
    window = timedelta(seconds=float(tracking_setting("ATTRIBUTION_WINDOW_SECONDS")))
    since = Q()
    for slot in pending:
        since |= Q(slot_key=slot.slot) & (Q(created_at__gt=slot.since) if slot.since else Q())
    seen = Exists(Event.objects.filter(decision_id=OuterRef("id"), type=Event.Type.IMPRESSION))
    rows = (
        DecisionLog.objects.filter(since)
        .exclude(visitor_id=None)
        .exclude(policy__in=NOT_LEARNED_FROM)
        .exclude(is_bot=True)
        .filter(Q(created_at__lte=now - window) | seen)
        .values("slot_key")
        .annotate(n=Count("id"))
    )
    return {row["slot_key"]: row["n"] for row in rows}


def models_retrain_due(now: datetime | None = None, *, min_interval_seconds: float | None = None) -> dict[str, str]:
    """Retrain every model slot that is due; each retrained slot's outcome (``promoted``, ``candidate``, ``not trained: ...``).

    Cheap when nothing is due: one query on model versions and one aggregate query on the decision log
    (none when every continuous slot trained less than the minimum interval ago). A mark in the shared
    cache keeps two workers from training the same slot at once, and an attempt that fails for want of
    data from being retried within the minimum interval. ``min_interval_seconds`` overrides the setting
    (a simulation, whose time runs faster than the clock).
    """
    now = now or timezone.now()
    pending = slots_retrain_pending(now, min_interval_seconds)
    counts = decisions_known_count(pending, now)
    outcomes: dict[str, str] = {}
    for slot in pending:
        if counts.get(slot.slot, 0) < slot.every:
            continue
        if not _attempt_claim(slot.slot):
            continue
        try:
            report = model_train(slot.slot)
        except TrainingError as exc:
            _attempt_hold(slot.slot, _min_interval(min_interval_seconds))
            logger.info("Slot %r not retrained: %s", slot.slot, exc)
            outcomes[slot.slot] = f"not trained: {exc}"
            continue
        except BaseException:
            _attempt_release(slot.slot)
            raise
        _attempt_release(slot.slot)  # the new version's created_at holds the minimum interval from now on
        outcomes[slot.slot] = "promoted" if report.promoted else "candidate"
        logger.info(
            "Slot %r retrained on %d new decisions with a known outcome: %s",
            slot.slot,
            counts[slot.slot],
            outcomes[slot.slot],
        )
    return outcomes


def _marks() -> Any:
    # The cache every process shares (the catalog's), so a mark set by one worker holds for all.
    return caches[setting("CATALOG_CACHE")]


def _attempt_claim(slot_key: str) -> bool:
    """Mark a training under way; False when a mark is there (another worker trains, or a recent attempt failed)."""
    with outage_guard("signals cache", "retraining not marked; training anyway"):
        return bool(_marks().add(ATTEMPT_KEY.format(slot=slot_key), 1, timeout=CLAIM_SECONDS))
    return True


def _attempt_hold(slot_key: str, interval: float) -> None:
    """A failed attempt (too little data): no new try within the minimum interval."""
    with outage_guard("signals cache", "failed retraining not marked; the next beat tries again"):
        if interval > 0:
            _marks().set(ATTEMPT_KEY.format(slot=slot_key), 1, timeout=interval)
        else:
            _marks().delete(ATTEMPT_KEY.format(slot=slot_key))


def _attempt_release(slot_key: str) -> None:
    with outage_guard("signals cache", "retraining mark not removed; it expires by itself"):
        _marks().delete(ATTEMPT_KEY.format(slot=slot_key))
