"""Celery tasks for tracking: thin wrappers that call one service each."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(ignore_result=False, soft_time_limit=60, time_limit=90)
def decisions_flush() -> int:
    """Bulk-write buffered decisions to the database (scheduled by beat every few seconds)."""
    from .conf import setting

    if setting("DECISION_LOG_BACKEND") != "redis":
        return 0
    return services.decisions_flush()
