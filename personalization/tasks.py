"""Celery tasks for personalization: thin wrappers that call one service each."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

logger = logging.getLogger(__name__)


@shared_task(ignore_result=False, soft_time_limit=1800, time_limit=2000)
def models_train(slot_key: str | None = None) -> dict[str, str]:
    """Train (and, if not worse, promote) the model of one slot or of every model slot.

    Returns each slot's outcome: ``promoted``, ``candidate``, ``not trained: <why>`` (too little data, a backend that cannot be reached)
    or ``failed: <error>``. One slot's failure is logged with its traceback and never stops the others.
    """
    from .training import TrainingError, model_slots, model_train

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
    return outcomes


@shared_task(ignore_result=False, soft_time_limit=600, time_limit=700)
def visitors_score() -> int:
    """Cache model scores for recently active visitors (scheduled by beat every few minutes)."""
    from .scoring import ScoringError
    from .scoring import visitors_score as score

    try:
        return score()
    except ScoringError as exc:  # the cache is down: serving scores in-process, the next run tries again
        logger.warning("Visitors not scored: %s", exc)
        return 0


@shared_task(ignore_result=False, soft_time_limit=1800, time_limit=2000)
def visitors_cluster() -> dict[str, object]:
    """Cluster recently active visitors on their behaviour (scheduled daily by beat, on the clustering queue)."""
    from .clustering import ClusteringError
    from .clustering import visitors_cluster as cluster

    try:
        report = cluster()
    except ClusteringError as exc:
        logger.info("Visitors not clustered: %s", exc)
        return {"run": None, "note": str(exc)}
    return {"run": report.run_id, "visitors": report.visitors, "k": report.k, "silhouette": report.silhouette}
