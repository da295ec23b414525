"""The rules a decoded event must meet to be accepted, checked one event at a time.

A known type, a recent timestamp, clean props without personal data, a decision
that exists and was shown to this visitor, and for a conversion naming a goal
(``props.goal``), a published, active goal, whose value it then takes. One bad event is rejected by its index and
never costs the good ones beside it. Decoding the body is ``event_decode``'s job.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from .conf import setting
from .decision_owners import decision_owners
from .event_decode import SURROGATE_ERROR, DecodedBatch, EventIn, props_clean, rejections_count, text_clean
from .goals import goal_book_get
from .models import Event
from .privacy import looks_personal

EVENT_TYPES = frozenset(Event.Type.values)


def decision_id_hex(raw: str) -> str | None:
    """A decision id as the decision log spells it (hex), or None when ``raw`` is not a UUID."""
    try:
        return uuid.UUID(raw).hex
    except ValueError:
        return None


def _event_check(
    event: EventIn, not_after: float, not_before: float
) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The rules a typed event must still meet: a known type, a recent ts, a decision id, clean props.

    ``not_after`` / ``not_before``: the newest and oldest event time accepted, in epoch seconds.
    """
    errors: dict[str, list[str]] = {}
    kind = event.type
    if kind not in EVENT_TYPES:
        shown = text_clean(kind)
        errors["type"] = [
            SURROGATE_ERROR
            if shown is None
            else f"Unknown type {shown!r}; use one of {', '.join(sorted(EVENT_TYPES))}."
        ]
    seconds = event.ts / 1000.0
    if seconds > not_after:
        errors["ts"] = ["Timestamp is in the future."]
    elif seconds < not_before:
        errors["ts"] = ["Timestamp is too old."]
    decision_id = event.decision_id
    if decision_id is not None:
        decision_id = decision_id_hex(decision_id)
        if decision_id is None:
            errors["decision_id"] = ["Must be a decision id as given in data-tailor-decision."]
    props: dict[str, Any] | None = event.props
    if props:
        why = _props_errors(props)
        if why is None:
            props, why = props_clean(props)
        if why:
            errors["props"] = [why]
    if errors:
        return None, errors
    return {
        "id": str(event.id),
        "type": kind,
        "decision_id": decision_id,
        "ts": seconds,
        "value": event.value,
        "props": props,
    }, {}


def _props_errors(props: dict[str, Any]) -> str | None:
    if len(props) > setting("MAX_PROPS"):
        return f"At most {setting('MAX_PROPS')} props."
    limit = setting("MAX_PROP_LENGTH")
    for name, value in props.items():
        if not isinstance(value, str):
            continue
        if len(value) > limit:
            return f"Prop {text_clean(name) or '?'!r} is longer than {limit} characters."
        why = looks_personal(value)
        if why:
            return f"Prop {text_clean(name) or '?'!r} {why}; personal data is not accepted."
    return None


def _goals_check(
    clean: list[tuple[int, dict[str, Any]]], rejected: list[dict[str, Any]]
) -> list[tuple[int, dict[str, Any]]]:
    """Conversions naming a goal must name a published, active one; they take its value.

    The site's own value is kept only for a goal that accepts one: a visitor cannot make a
    signup worth more by editing a request. Conversions without ``props.goal`` are the site's own
    (``Tailor.track("conversion", ...)``) and pass as they are. The definitions are read only for
    a batch that holds a goal conversion.
    """
    if not any(record["type"] == "conversion" and "goal" in (record["props"] or {}) for _, record in clean):
        return clean
    values = goal_book_get().values
    kept: list[tuple[int, dict[str, Any]]] = []
    for index, record in clean:
        if record["type"] == "conversion" and "goal" in (record["props"] or {}):
            key = record["props"]["goal"]
            goal = values.get(key) if isinstance(key, str) else None
            if goal is None:
                rejected.append({"index": index, "errors": {"props.goal": [_goal_unknown(key)]}})
                continue
            value, site_value = goal
            if not (site_value and record["value"] is not None):
                record["value"] = value
        kept.append((index, record))
    return kept


def _goal_unknown(key: Any) -> str:
    if not isinstance(key, str):
        return "Must be the key of a published goal (a string)."
    shown = key if len(key) <= 64 else key[:64] + "…"
    return f"No published, active goal has the key {shown!r}."


def events_validate(
    batch: DecodedBatch, visitor_id: str, now: float, cached: Mapping[str, Any] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The events of a decoded batch that pass every rule, and every rejected one by index.

    ``cached``: cache entries already read (``event_ingest.ingest_read_along``), so as not to read them again.
    """
    clean: list[tuple[int, dict[str, Any]]] = []
    rejected = list(batch.rejected)
    # Read once per batch, not twice per event.
    not_after, not_before = now + setting("CLOCK_SKEW_SECONDS"), now - setting("MAX_EVENT_AGE_SECONDS")
    for index, event in batch.events:
        checked, errors = _event_check(event, not_after, not_before)
        if checked is None:
            rejected.append({"index": index, "errors": errors})
        else:
            clean.append((index, checked))
    clean = _goals_check(clean, rejected)
    owners = decision_owners({e["decision_id"] for _, e in clean if e["decision_id"]}, cached)
    accepted: list[dict[str, Any]] = []
    for index, record in clean:
        decision_id = record["decision_id"]
        if decision_id:
            owner = owners.get(decision_id)
            if owner is None:
                rejected.append({"index": index, "errors": {"decision_id": ["Unknown decision id."]}})
                continue
            if owner != visitor_id:
                rejected.append(
                    {"index": index, "errors": {"decision_id": ["This decision was shown to another visitor."]}}
                )
                continue
        accepted.append(record)
    rejected.sort(key=lambda r: r["index"])
    rejections_count(rejected)
    return accepted, rejected
