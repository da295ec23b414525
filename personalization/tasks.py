"""Celery tasks for personalization: thin wrappers that call one service each."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(ignore_result=False, soft_time_limit=1800, time_limit=2000)
def models_train(slot_key: str | None = None) -> dict[str, bool]:
    """Train (and, if not worse, promote) the model of one slot or of every model slot."""
    from .training import TrainingError, model_slots, model_train

    promoted = {}
    for key in [slot_key] if slot_key else model_slots():
        try:
            promoted[key] = model_train(key).promoted
        except TrainingError as exc:
            logger.info("Slot %r not trained: %s", key, exc)
    return promoted


@shared_task(ignore_result=False, soft_time_limit=600, time_limit=700)
def visitors_score() -> int:
    """Cache model scores for recently active visitors (scheduled by beat every few minutes)."""
    from .scoring import visitors_score as score

    return score()


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
