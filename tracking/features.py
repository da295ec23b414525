"""Real-time visitor features, in one module for serving and for training.

A visitor's *feature state* is a small dict folded from their events by
``state_apply``; ``features_compute`` turns it into the named features that
segments and models read. Ingest folds each accepted event into the state kept
in the cache, so ``decide()`` sees it at once; a rebuild folds the same events
from the database with the same function, so serving and training can never
disagree about what a feature means. Pure Python: no Django here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SESSION_GAP_SECONDS = 30 * 60
HOUR = 3600.0
DAY = 24 * HOUR
MAX_TIMES = 500  # bounds the state of a very busy visitor (or a bot)

FEATURE_NAMES = (
    "clicks_last_hour",
    "sessions_7d",
    "avg_scroll_depth",
    "avg_dwell_s",
    "seconds_since_last_visit",
    "conversions_30d",
    "deal_clicks_ratio",
)

FeatureState = dict[str, Any]


def state_new() -> FeatureState:
    return {
        "clicks": [],
        "clicks_total": 0,
        "deal_clicks": 0,
        "conversions": [],
        "sessions": [],
        "last_ts": None,
        "prev_last_ts": None,
        "scroll_sum": 0.0,
        "scroll_n": 0,
        "dwell_sum": 0.0,
        "dwell_n": 0,
    }


def _recent(times: list[float], since: float) -> list[float]:
    return [t for t in times if t > since][-MAX_TIMES:]


def state_apply(state: FeatureState, event: Mapping[str, Any]) -> FeatureState:
    """Fold one event (``type``, ``ts`` in epoch seconds, ``value``, ``props``, ``decision_id``) into the state."""
    ts = float(event["ts"])
    kind = event["type"]
    last = state["last_ts"]
    if last is None or ts - last > SESSION_GAP_SECONDS:
        if last is not None:
            state["prev_last_ts"] = last
        state["sessions"] = _recent([*state["sessions"], ts], ts - 7 * DAY)
    state["last_ts"] = ts if last is None else max(last, ts)
    value = event.get("value")
    if kind == "click":
        state["clicks"] = _recent([*state["clicks"], ts], ts - HOUR)
        state["clicks_total"] += 1
        if (event.get("props") or {}).get("deal"):
            state["deal_clicks"] += 1
    elif kind == "conversion":
        state["conversions"] = _recent([*state["conversions"], ts], ts - 30 * DAY)
    elif kind == "scroll" and value is not None:
        state["scroll_sum"] += min(max(float(value), 0.0), 100.0)
        state["scroll_n"] += 1
    elif kind == "dwell" and value is not None and not event.get("decision_id"):
        state["dwell_sum"] += max(float(value), 0.0)
        state["dwell_n"] += 1
    return state


def state_from_events(events: Iterable[Mapping[str, Any]]) -> FeatureState:
    state = state_new()
    for event in sorted(events, key=lambda e: float(e["ts"])):
        state_apply(state, event)
    return state


def features_compute(state: FeatureState | None, now: float) -> dict[str, float | None]:
    """Named features at time ``now``; None where there is nothing to say yet."""
    if not state:
        return dict.fromkeys(FEATURE_NAMES)
    last = state["last_ts"]
    if last is not None and now - last > SESSION_GAP_SECONDS:
        since_last_visit: float | None = now - last
    elif state["prev_last_ts"] is not None:
        since_last_visit = now - state["prev_last_ts"]
    else:
        since_last_visit = None
    return {
        "clicks_last_hour": float(sum(1 for t in state["clicks"] if t > now - HOUR)),
        "sessions_7d": float(sum(1 for t in state["sessions"] if t > now - 7 * DAY)),
        "avg_scroll_depth": state["scroll_sum"] / state["scroll_n"] if state["scroll_n"] else None,
        "avg_dwell_s": state["dwell_sum"] / state["dwell_n"] if state["dwell_n"] else None,
        "seconds_since_last_visit": since_last_visit,
        "conversions_30d": float(sum(1 for t in state["conversions"] if t > now - 30 * DAY)),
        "deal_clicks_ratio": state["deal_clicks"] / state["clicks_total"] if state["clicks_total"] else 0.0,
    }
