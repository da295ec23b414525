"""Celery beat: the periodic jobs Tailor needs, for a site to merge into its ``CELERY_BEAT_SCHEDULE``.

Each job runs on its own queue (``TASK_ROUTES`` sends a task queued by hand to the same one), so a
long training run never delays the writers of the decision log and the event stream. Plain data and
no Django import: a settings module can import it before Django is set up.
"""

from __future__ import annotations

from typing import Any

# Every queue a worker serves when it runs all of Tailor's jobs.
QUEUES = ("ingest", "default", "features", "training", "scoring", "clustering", "maintenance", "results")

TASK_ROUTES: dict[str, dict[str, str]] = {
    "tracking.tasks.events_purge": {"queue": "maintenance"},
    "tracking.tasks.features_rollup": {"queue": "features"},
    "tracking.tasks.*": {"queue": "ingest"},
    "personalization.tasks.models_train": {"queue": "training"},
    "personalization.tasks.models_retrain_due": {"queue": "training"},
    "personalization.tasks.visitors_score": {"queue": "scoring"},
    "personalization.tasks.visitors_cluster": {"queue": "clustering"},
    "personalization.tasks.results_rollup": {"queue": "results"},
    "personalization.tasks.guardrails_check": {"queue": "results"},
    "personalization.tasks.bandits_*": {"queue": "default"},
}


def beat_schedule(
    *,
    decisions_flush_seconds: float = 2.0,
    features_rollup_seconds: float = 600.0,
    train_seconds: float = 3600.0,
    retrain_due_seconds: float = 60.0,
    score_seconds: float = 300.0,
    cluster_seconds: float = 24 * 3600.0,
    results_rollup_seconds: float = 3600.0,
    guardrails_seconds: float = 3600.0,
    bandits_fold_seconds: float = 60.0,
) -> dict[str, dict[str, Any]]:
    """Tailor's beat entries, with the intervals a site may tune; ``BEAT_SCHEDULE`` holds the defaults."""
    return {
        "tracking-decisions-flush": {
            "task": "tracking.tasks.decisions_flush",
            "schedule": decisions_flush_seconds,
            "options": {"queue": "ingest", "expires": 10},
        },
        "tracking-events-consume": {
            "task": "tracking.tasks.events_consume",
            "schedule": 10.0,  # each run drains the stream for ~9 s, so writers run back to back
            "options": {"queue": "ingest", "expires": 10},
        },
        "tracking-features-rollup": {
            "task": "tracking.tasks.features_rollup",
            "schedule": features_rollup_seconds,
            "options": {"queue": "features", "expires": 600},
        },
        "personalization-models-train": {
            "task": "personalization.tasks.models_train",
            "schedule": train_seconds,
            "options": {"queue": "training", "expires": 3600},
        },
        "personalization-models-retrain-due": {
            "task": "personalization.tasks.models_retrain_due",
            "schedule": retrain_due_seconds,
            "options": {"queue": "training", "expires": 60},
        },
        "personalization-visitors-score": {
            "task": "personalization.tasks.visitors_score",
            "schedule": score_seconds,
            "options": {"queue": "scoring", "expires": 300},
        },
        "personalization-visitors-cluster": {
            "task": "personalization.tasks.visitors_cluster",
            "schedule": cluster_seconds,
            "options": {"queue": "clustering", "expires": 3600},
        },
        "personalization-results-rollup": {
            "task": "personalization.tasks.results_rollup",
            "schedule": results_rollup_seconds,
            "options": {"queue": "results", "expires": 3600},
        },
        "personalization-guardrails-check": {
            "task": "personalization.tasks.guardrails_check",
            "schedule": guardrails_seconds,
            "options": {"queue": "results", "expires": 3600},
        },
        "personalization-bandits-fold": {
            "task": "personalization.tasks.bandits_fold",
            "schedule": bandits_fold_seconds,
            "options": {"queue": "default", "expires": 60},
        },
        "tracking-events-purge": {
            "task": "tracking.tasks.events_purge",
            "schedule": 24 * 3600.0,
            "options": {"queue": "maintenance"},
        },
    }


BEAT_SCHEDULE = beat_schedule()
