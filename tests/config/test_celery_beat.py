"""Celery beat: each learning job on its own queue, at the documented default, overridable by environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JOBS = {
    "personalization-models-train": ("personalization.tasks.models_train", "training", 3600.0, "TAILOR_TRAIN_SECONDS"),
    "personalization-models-retrain-due": (
        "personalization.tasks.models_retrain_due",
        "training",
        60.0,
        "TAILOR_RETRAIN_DUE_SECONDS",
    ),
    "personalization-visitors-score": (
        "personalization.tasks.visitors_score",
        "scoring",
        300.0,
        "TAILOR_SCORE_SECONDS",
    ),
    "personalization-visitors-cluster": (
        "personalization.tasks.visitors_cluster",
        "clustering",
        86400.0,
        "TAILOR_CLUSTER_SECONDS",
    ),
    "tracking-features-rollup": ("tracking.tasks.features_rollup", "features", 600.0, "TAILOR_FEATURES_ROLLUP_SECONDS"),
    "personalization-results-rollup": (
        "personalization.tasks.results_rollup",
        "results",
        3600.0,
        "TAILOR_RESULTS_ROLLUP_SECONDS",
    ),
    "personalization-guardrails-check": (
        "personalization.tasks.guardrails_check",
        "results",
        3600.0,
        "TAILOR_GUARDRAILS_SECONDS",
    ),
}


def beat_schedule(**env: str) -> dict:
    """The schedule as a fresh process reads it: settings are read from the environment once, at start-up."""
    script = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps({k: {'task': v['task'], 'schedule': v['schedule'], 'queue': v['options']['queue']} "
        "for k, v in settings.CELERY_BEAT_SCHEDULE.items()}))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAILOR_")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", sorted(JOBS))
def test_each_learning_job_runs_on_its_own_queue_at_its_default(name, settings):
    task, queue, seconds, _ = JOBS[name]
    entry = settings.CELERY_BEAT_SCHEDULE[name]
    assert entry["task"] == task
    assert entry["options"]["queue"] == queue
    assert entry["schedule"] == seconds
    assert settings.CELERY_TASK_ROUTES[task]["queue"] == queue  # a task sent by hand goes to the same queue


def test_every_interval_is_overridable_by_environment():
    overrides = {variable: str(100 + i) for i, (*_, variable) in enumerate(JOBS.values())}
    schedule = beat_schedule(**overrides)
    for name, (task, queue, _, variable) in JOBS.items():
        assert schedule[name] == {"task": task, "schedule": float(overrides[variable]), "queue": queue}


def test_project_runs_the_plugins_schedule_and_routes(settings):
    """The schedule a site merges (personalization.beat) is the one this project runs, at the same defaults."""
    from personalization import beat

    schedule = beat_schedule()
    assert schedule == {
        name: {"task": entry["task"], "schedule": entry["schedule"], "queue": entry["options"]["queue"]}
        for name, entry in beat.BEAT_SCHEDULE.items()
    }
    assert settings.CELERY_TASK_ROUTES == beat.TASK_ROUTES
