"""Real-time visitor features, in one module for serving and for training.

A visitor's *feature state* is a small dict folded from their events by
``state_apply``; ``features_compute`` turns it into the named features that
segments and models read. Ingest folds each accepted event into the state kept
in the cache, so ``decide()`` sees it at once; a rebuild folds the same events
from the database with the same function, so serving and training can never
disagree about what a feature means. Pure Python: no Django here.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable, Mapping
from typing import Any

HOUR = 3600.0
DAY = 24 * HOUR
MAX_TIMES = 500  # bounds the state of a very busy visitor (or a bot)

# Every feature, with the label editors see where a segment rule picks one: the one list of them.
FEATURE_LABELS = {
    "clicks_last_hour": "Clicks in the last hour",
    "sessions_7d": "Visits in the last 7 days",
    "avg_scroll_depth": "Average scroll depth (%)",
    "avg_dwell_s": "Average time on page (s)",
    "seconds_since_last_visit": "Seconds since the last visit",
    "conversions_30d": "Conversions in the last 30 days",
    "deal_clicks_ratio": "Share of clicks on deals (0–1)",
}
FEATURE_NAMES = tuple(FEATURE_LABELS)


def feature_label(name: str) -> str:
    """The editor-facing label of a feature; a name this version does not know (an old model's) stays as it is."""
    return FEATURE_LABELS.get(name, name)


FeatureState = dict[str, Any]


def state_new() -> FeatureState:
    return {
        "times": [],  # every event time in the last 7 days, sorted: sessions are derived from the gaps
        "clicks": [],
        "clicks_total": 0,
        "deal_clicks": 0,
        "conversions": [],
        "scroll_sum": 0.0,
        "scroll_n": 0,
        "dwell_sum": 0.0,
        "dwell_n": 0,
    }


def _keep(times: list[float], keep_after: float) -> list[float]:
    start = bisect_right(times, keep_after)
    return times[max(start, len(times) - MAX_TIMES) :]


def state_apply(state: FeatureState, event: Mapping[str, Any]) -> FeatureState:
    """Fold one event (``type``, ``ts`` in epoch seconds, ``value``, ``props``, ``decision_id``) into the state.

    The fold is order-independent (times are kept sorted, everything else is a
    sum), so a late or retried batch gives the same state as a rebuild.
    """
    return state_apply_many(state, (event,))


def state_apply_many(state: FeatureState, events: Iterable[Mapping[str, Any]]) -> FeatureState:
    """Fold events into the state: the same state as ``state_apply`` one by one, in any order.

    The windows are pruned once, after the last event, against the newest time seen: an
    event pruned along the way is below that newest time's cut too, and one pushed out by
    ``MAX_TIMES`` has that many newer times after it for good. One prune per batch instead
    of three per event is most of what an ingest batch's fold costs.
    """
    times, clicks, conversions = state["times"], state["clicks"], state["conversions"]
    newest = times[-1] if times else None
    for event in events:
        ts = float(event["ts"])
        kind = event["type"]
        if newest is None or ts > newest:
            newest = ts
        insort(times, ts)
        value = event.get("value")
        if kind == "click":
            insort(clicks, ts)
            state["clicks_total"] += 1
            if (event.get("props") or {}).get("deal"):
                state["deal_clicks"] += 1
        elif kind == "conversion":
            insort(conversions, ts)
        elif kind == "scroll" and value is not None:
            state["scroll_sum"] += min(max(float(value), 0.0), 100.0)
            state["scroll_n"] += 1
        elif kind == "dwell" and value is not None and not event.get("decision_id"):
            state["dwell_sum"] += max(float(value), 0.0)
            state["dwell_n"] += 1
    if newest is None:
        return state
    # Prune every window against the newest time seen, whatever arrived, so the state
    # depends only on the set of events, not on their order.
    state["times"] = _keep(times, newest - 7 * DAY)
    state["clicks"] = _keep(clicks, newest - HOUR)
    state["conversions"] = _keep(conversions, newest - 30 * DAY)
    return state


def state_from_events(events: Iterable[Mapping[str, Any]]) -> FeatureState:
    return state_apply_many(state_new(), events)


def _session_ends(times: list[float], visit_timeout: float) -> list[float]:
    """The last event time of each visit (a gap longer than the visit timeout starts a new one)."""
    return [t for t, nxt in zip(times, times[1:], strict=False) if nxt - t > visit_timeout] + times[-1:]


def features_compute(state: FeatureState | None, now: float, *, visit_timeout: float) -> dict[str, float | None]:
    """Named features at time ``now``; None where there is nothing to say yet.

    ``visit_timeout``: the quiet seconds that end a visit, the setting ``VISIT_TIMEOUT_SECONDS`` that
    also counts the visits of ``context.visit_count`` (a parameter, so this module stays free of Django).
    """
    if not state or not state["times"]:
        return dict.fromkeys(FEATURE_NAMES)
    times = [t for t in state["times"] if t <= now]
    ends = _session_ends(times, visit_timeout)
    # The current visit does not count as "the last visit": use the one before it if we are in one.
    if ends and now - ends[-1] <= visit_timeout:
        ends = ends[:-1]
    return {
        "clicks_last_hour": float(sum(1 for t in state["clicks"] if now - HOUR < t <= now)),
        "sessions_7d": float(sum(1 for t in _session_ends(times, visit_timeout) if t > now - 7 * DAY)),
        "avg_scroll_depth": state["scroll_sum"] / state["scroll_n"] if state["scroll_n"] else None,
        "avg_dwell_s": state["dwell_sum"] / state["dwell_n"] if state["dwell_n"] else None,
        "seconds_since_last_visit": now - ends[-1] if ends else None,
        "conversions_30d": float(sum(1 for t in state["conversions"] if now - 30 * DAY < t <= now)),
        "deal_clicks_ratio": state["deal_clicks"] / state["clicks_total"] if state["clicks_total"] else 0.0,
    }
