"""Personalization settings: ``settings.TAILOR`` over these defaults, read at call time."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # How often a web process checks whether the published catalog changed (seconds).
    # The process that publishes sees its change at once; others within this interval.
    "CATALOG_CHECK_SECONDS": 1.0,
    # Rebuild at least this often even without a publish, as a backstop for missed invalidations.
    "CATALOG_MAX_AGE_SECONDS": 300.0,
    "CATALOG_VERSION_KEY": "tailor:catalog-version",  # the cache key of the shared catalog version
    # The cache alias holding that version: it must be shared by every web process, worker and command.
    "CATALOG_CACHE": "default",
    "API_MAX_SLOTS": 50,  # slots per POST /api/v1/decisions/
    "API_MAX_CONTEXT_BYTES": 4096,  # size of a decisions request's context
    # Behaviour clusters: visitors active within this many hours, at most this many (a seeded
    # sample beyond it), k chosen by silhouette within the range; fewer visitors: no new run.
    "CLUSTER_ACTIVE_HOURS": 7 * 24.0,
    "CLUSTER_MAX_VISITORS": 20_000,  # visitors per clustering run (a seeded sample beyond)
    "CLUSTER_MIN_VISITORS": 30,  # fewer active visitors: no new run
    "CLUSTER_K_RANGE": (2, 8),  # the numbers of clusters tried; the best silhouette wins
    # A segment's reach (its edit screen and the listing) is matched against the latest decision of recent visitors.
    "SEGMENT_REACH_DAYS": 7,  # visitors seen within this many days
    "SEGMENT_REACH_SAMPLE": 2000,  # at most this many of them (the newest); each figure is cached for 5 minutes
    "TRAINING_BACKEND": "local",  # or "dask", with DASK_SCHEDULER_ADDRESS
    "DASK_SCHEDULER_ADDRESS": "",  # the Dask scheduler's tcp:// address, for the dask backend
    "DASK_CONNECT_TIMEOUT_SECONDS": 30,  # a scheduler that does not answer in this long fails the training run
    # A candidate is promoted unless its paired doubly robust difference with the serving policy shows a
    # loss of more than this share of the serving policy's estimated value (the whole 95 % interval below
    # it). Larger tolerates more; 0 keeps back any candidate shown worse at all.
    "PROMOTION_MARGIN": 0.02,
    # Continuous retraining (a model slot's retrain_every): never retrain a slot sooner than this after its
    # last training, however fast outcomes come in, so a busy slot does not train back to back.
    "RETRAIN_MIN_INTERVAL_SECONDS": 300.0,
    # Results: each rollup re-rolls the days since this long (plus twice the attribution window) before now,
    # so late events and the outcomes of recent visitors are counted; a day further back is final.
    "RESULTS_LOOKBACK_SECONDS": 24 * 3600,
    "RESULTS_BATCH_DECISIONS": 5000,  # decisions per read of the rollup, with their visitors' events
    # The results API (`GET /api/v1/slots/KEY/results/`) also accepts `Authorization: Bearer` and this value, for
    # BI tools; blank: only an admin session with the view permission of slots reads results.
    "RESULTS_API_TOKEN": "",
    # Guardrails: renders and render errors are counted per process and flushed to the shared cache this often
    # (at once after an error), kept this many days; a variant is compared over at most GUARDRAIL_MAX_DAYS.
    "RENDER_COUNTS_FLUSH_SECONDS": 10.0,
    "RENDER_COUNTS_DAYS": 8,
    "GUARDRAIL_MAX_DAYS": 28,
    # The planned sample (visitors in both arms) at which the guardrail's always-valid bound is tightest.
    "GUARDRAIL_TUNING": 5000,
    # Frequency caps and novelty decay: a visitor's exposures are forgotten this long after their last view
    # (a day: per-day caps need no more, and novelty wears off for a visitor who stays away that long).
    "EXPOSURES_TTL_SECONDS": 24 * 3600,
    # Bandits: a web process re-reads a bandit slot's published allocation at most this often (seconds), so
    # decide() costs no cache read most of the time; a fold reaches every process within this long.
    "BANDIT_ALLOCATION_CHECK_SECONDS": 5.0,
    # Without a broker (embedded default, no beat), the event writer folds the bandits' counts itself, at most
    # this often (seconds; 0: never, only the task or the command).
    "BANDIT_FOLD_EAGER_SECONDS": 60.0,
    "BANDIT_REBUILD_BATCH": 2000,  # decisions per read when a bandit's posteriors are rebuilt from the log
    # A bandit learning per context cell publishes an allocation for at most this many cells per slot (the
    # busiest); the others are served the slot's pooled allocation.
    "BANDIT_MAX_CELLS": 200,
}


def setting(name: str) -> Any:
    overrides = getattr(settings, "TAILOR", {})
    return overrides[name] if name in overrides else DEFAULTS[name]
