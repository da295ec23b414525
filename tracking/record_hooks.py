"""Hooks on what tracking records: a decision logged, an event written.

Tracking never imports personalization, yet the bandit learns online from both: its app
registers a handler here in ``ready()`` (as the feature store's rebuild is wired), and the
decision writer and the event writer call every handler with the records they took. A
decision handler gets the Redis batch the request's writes go through (a ``RedisBatch``, with
redis-py's command methods; ``None`` when they go elsewhere) so that its own writes cost no
extra round trip. A handler must not
raise for an unreachable cache: it uses ``outage_guard`` and carries on. A handler that fails
otherwise is logged with its traceback and skipped: what it learns from can be rebuilt from the
log, while a failed ingest would make the tracker send, and the writer write, the batch again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

logger = logging.getLogger(__name__)

DecisionHandler = Callable[[Sequence[Mapping[str, Any]], Any], None]
EventHandler = Callable[[Sequence[Mapping[str, Any]]], None]

_decision_handlers: list[DecisionHandler] = []
_event_handlers: list[EventHandler] = []


def decision_handler_register(handler: DecisionHandler) -> None:
    if handler not in _decision_handlers:
        _decision_handlers.append(handler)


def event_handler_register(handler: EventHandler) -> None:
    if handler not in _event_handlers:
        _event_handlers.append(handler)


def decisions_recorded(records: Sequence[Mapping[str, Any]], pipe: Any = None) -> None:
    """Decisions were logged (or queued on ``pipe``, which the caller executes)."""
    if records:
        for handler in _decision_handlers:
            try:
                handler(records, pipe)
            except Exception:  # the decisions are recorded whatever a learner makes of them
                logger.exception("Decision handler %r failed; its learner can rebuild from the log.", handler)


def events_written(records: Sequence[Mapping[str, Any]]) -> None:
    """Events were written to the database for the first time (never for a duplicate)."""
    if records:
        for handler in _event_handlers:
            try:
                handler(records)
            except Exception:  # the events are written whatever a learner makes of them
                logger.exception("Event handler %r failed; its learner can rebuild from the log.", handler)
