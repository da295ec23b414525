"""Celery tasks for tracking: thin wrappers that call one service each."""

from __future__ import annotations

import os
import socket
from typing import Any

from celery import Task, shared_task

from . import event_stream, feature_store, services
from .conf import setting


def task_send(task: Task, *args: Any) -> Any:
    """Queue ``task`` on the site's broker, or run it here and now when the site configured none.

    Celery runs tasks eagerly only when the site's own Celery app says so (``CELERY_TASK_ALWAYS_EAGER``);
    a site that set up no Celery at all would otherwise have every send try a RabbitMQ on localhost.
    """
    app = task.app
    if app.conf.task_always_eager or not app.conf.broker_url:
        return task.apply(args=args, throw=True)
    return task.delay(*args)


@shared_task(ignore_result=False, soft_time_limit=60, time_limit=90)
def decisions_flush() -> int:
    """Bulk-write buffered decisions to the database (scheduled by beat every few seconds)."""
    if setting("DECISION_LOG_BACKEND") != "redis":
        return 0
    return services.decisions_flush()


@shared_task(ignore_result=False, soft_time_limit=30, time_limit=45)
def events_consume(budget_seconds: float = 9.0) -> int:
    """Write events from the Redis stream to the database for a bounded time (beat runs it back to back)."""
    if setting("EVENT_INGEST_BACKEND") != "redis":
        return 0
    return event_stream.events_stream_consume(f"{socket.gethostname()}-{os.getpid()}", budget_seconds=budget_seconds)


@shared_task(ignore_result=True, soft_time_limit=30, time_limit=45)
def visitor_features_rebuild(visitor_id: str) -> None:
    feature_store.visitor_features_rebuild(visitor_id)


@shared_task(ignore_result=False, soft_time_limit=300, time_limit=400)
def features_rollup() -> int:
    """Recompute recently active visitors' features from the database (scheduled by beat every few minutes)."""
    return feature_store.visitors_features_rollup(active_within_seconds=setting("FEATURES_ROLLUP_WINDOW_SECONDS"))


@shared_task(ignore_result=False, soft_time_limit=600, time_limit=900)
def events_purge() -> dict[str, int]:
    """Enforce the retention period on every store (scheduled daily by beat); returns counts by kind.

    Named for what it did first (events only); the beat schedules of existing deployments refer to it.
    Idempotent: a run cut short by its time limit leaves the rest to the next.
    """
    return services.retention_purge(older_than_days=setting("RETENTION_DAYS"))
