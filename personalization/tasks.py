"""Celery tasks for personalization: thin wrappers that call one service each."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from tracking.metrics import TRAINING_OUTCOMES

logger = logging.getLogger(__name__)


class ModelsTrainingFailed(RuntimeError):
    """At least one slot's training raised an unexpected error; ``outcomes`` holds every slot's outcome."""

    def __init__(self, outcomes: dict[str, str]) -> None:
        super().__init__(outcomes)  # the only argument, so a result backend can rebuild the exception
        self.outcomes = outcomes

    def __str__(self) -> str:
        failed = {key: outcome for key, outcome in self.outcomes.items() if outcome.startswith("failed: ")}
        return f"{len(failed)} of {len(self.outcomes)} slots failed to train: {failed}"


@shared_task(ignore_result=False, soft_time_limit=1800, time_limit=2000)
def models_train(slot_key: str | None = None) -> dict[str, str]:
    """Train (and, if not worse, promote) the model of one slot or of every model slot.

    Returns each slot's outcome: ``promoted``, ``candidate`` or ``not trained: <why>`` (too little data, a
    backend that cannot be reached). An unexpected error in one slot is logged with its traceback and never
    stops the others; after the last slot the task fails (``ModelsTrainingFailed``, with every outcome), so
    monitoring sees it rather than a success.
    """
    from personalization.learning.training import TrainingError, model_slots, model_train

    outcomes = {}
    for key in [slot_key] if slot_key else model_slots():
        try:
            outcomes[key] = "promoted" if model_train(key).promoted else "candidate"
        except TrainingError as exc:
            logger.info("Slot %r not trained: %s", key, exc)
            outcomes[key] = f"not trained: {exc}"
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:  # noqa: BLE001 - logged with its traceback; the next slot still trains
            logger.exception("Training slot %r failed.", key)
            outcomes[key] = f"failed: {type(exc).__name__}: {exc}"
    for outcome in outcomes.values():
        TRAINING_OUTCOMES.labels(outcome=outcome.split(":", 1)[0].replace(" ", "-")).inc()
    if any(outcome.startswith("failed: ") for outcome in outcomes.values()):
        raise ModelsTrainingFailed(outcomes)
    return outcomes


@shared_task(ignore_result=False, soft_time_limit=1800, time_limit=2000)
def models_retrain_due() -> dict[str, str]:
    """Retrain the model slots with enough new outcomes since their last training (beat: every minute).

    One aggregate query when nothing is due; enqueue it after an ingest batch too. Returns the outcome of
    each slot it retrained.
    """
    from personalization.learning.retraining import models_retrain_due as retrain

    outcomes = retrain()
    for outcome in outcomes.values():
        TRAINING_OUTCOMES.labels(outcome=outcome.split(":", 1)[0].replace(" ", "-")).inc()
    return outcomes


@shared_task(ignore_result=False, soft_time_limit=600, time_limit=700)
def visitors_score() -> int:
    """Cache model scores for recently active visitors (scheduled by beat every few minutes)."""
    from personalization.learning.scoring import ScoringError
    from personalization.learning.scoring import visitors_score as score

    try:
        return score()
    except ScoringError as exc:  # the cache is down: serving scores in-process, the next run tries again
        logger.warning("Visitors not scored: %s", exc)
        return 0


@shared_task(ignore_result=False, soft_time_limit=1800, time_limit=2000)
def visitors_cluster() -> dict[str, object]:
    """Cluster recently active visitors on their behaviour (scheduled daily by beat, on the clustering queue)."""
    from personalization.behaviour.clustering import ClusteringError
    from personalization.behaviour.clustering import visitors_cluster as cluster

    try:
        report = cluster()
    except ClusteringError as exc:
        logger.info("Visitors not clustered: %s", exc)
        return {"run": None, "note": str(exc)}
    return {"run": report.run_id, "visitors": report.visitors, "k": report.k, "silhouette": report.silhouette}


@shared_task(ignore_result=False, soft_time_limit=1800, time_limit=2000)
def results_rollup() -> dict[str, object]:
    """Roll the decision log and its rewards up into per slot × variant × day results (hourly by beat).

    Idempotent: it re-rolls whole recent days, so a retry or an overlapping run writes the same numbers.
    """
    from personalization.results.rollup import results_rollup as rollup

    report = rollup().as_dict()
    # Fresh rollups are what the guardrails read: check them now rather than up to an hour later.
    from tracking.outages import outage_guard

    with outage_guard("broker", "guardrails not queued after the rollup; beat runs them within the hour"):
        guardrails_check.delay()
    return report


@shared_task(ignore_result=False, soft_time_limit=900, time_limit=1000)
def guardrails_check() -> dict[str, object]:
    """Test every guarded slot's live variants against control; pause, roll back or report (hourly, and after
    each rollup). Idempotent: a paused variant is no longer tested, a report is written once per revision."""
    from personalization.guardrails.checks import guardrails_check as check

    return check().as_dict()


@shared_task(ignore_result=False, soft_time_limit=240, time_limit=300)
def bandits_fold() -> dict[str, object]:
    """Fold the bandits' online counts into their posteriors and publish fresh allocations (beat, every minute).

    Idempotent and safe to overlap: the counts are read and cleared at once under a lock; a run that finds the
    lock held returns ``skipped``. Rebuilds from the decision log first when the counts were lost.
    """
    from personalization.learning.bandits import bandits_fold as fold

    return fold().as_dict()


@shared_task(ignore_result=False, soft_time_limit=1800, time_limit=2000)
def bandits_rebuild(slot_key: str | None = None) -> dict[str, object]:
    """Recompute one bandit slot's posteriors (or every one's) from the decision log and publish them."""
    from personalization.learning.bandits import bandits_rebuild as rebuild

    return rebuild(slot_key=slot_key).as_dict()
