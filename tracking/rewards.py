"""Rewards per decision, derived in one place: what learning reads.

A click on or inside a decision's element is that decision's click. A
conversion credits, for each slot the visitor saw within the attribution
window before it, the most recent decision of that slot. Hover and visible
time add up per decision. Bot traffic never counts. A conversion recorded
under a goal (``props.goal``, or ``goal`` in the event given) is also credited
to that goal, so results can be read for one goal among several.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class Reward:
    clicked: bool = False
    hovered_ms: float = 0.0
    visible_ms: float = 0.0
    converted: bool = False
    value: float = 0.0
    # Goal key -> value credited, for conversions recorded under a goal; None (not {}) when there are
    # none, so the millions of rewards without a goal conversion cost no dict.
    goals: dict[str, float] | None = None


def rewards_compute(
    decisions: Iterable[Mapping[str, Any]],
    events: Iterable[Mapping[str, Any]],
    *,
    window_seconds: float,
) -> dict[str, Reward]:
    """Pure: decisions (``id``, ``visitor_id``, ``slot_key``, ``created_at``) and events → rewards by decision id."""
    decisions = list(decisions)
    rewards = {d["id"]: Reward() for d in decisions}
    by_visitor: dict[Any, list[Mapping[str, Any]]] = defaultdict(list)
    for decision in decisions:
        by_visitor[decision["visitor_id"]].append(decision)
    for visitor_decisions in by_visitor.values():
        visitor_decisions.sort(key=lambda d: _seconds(d["created_at"]))
    for event in events:
        if event.get("is_bot"):
            continue
        kind = event["type"]
        decision_id = event.get("decision_id")
        if decision_id in rewards:
            reward = rewards[decision_id]
            if kind == "click":
                reward.clicked = True
            elif kind == "hover":
                reward.hovered_ms += float(event.get("value") or 0)
            elif kind == "dwell":
                reward.visible_ms += float(event.get("value") or 0)
        if kind == "conversion":
            at = _seconds(event["ts"])
            latest: dict[str, Mapping[str, Any]] = {}
            for decision in by_visitor.get(event["visitor_id"], ()):
                shown = _seconds(decision["created_at"])
                if at - window_seconds <= shown <= at:
                    latest[decision["slot_key"]] = decision  # sorted, so the last one wins
            value = float(event.get("value") or 0)
            goal = _goal(event)
            for decision in latest.values():
                reward = rewards[decision["id"]]
                reward.converted = True
                reward.value += value
                if goal:
                    if reward.goals is None:
                        reward.goals = {}
                    reward.goals[goal] = reward.goals.get(goal, 0.0) + value
    return rewards


def _goal(event: Mapping[str, Any]) -> str | None:
    """The goal a conversion was recorded under: ``goal`` if given, else ``props.goal``."""
    goal = event.get("goal")
    if goal is None:
        props = event.get("props")
        goal = props.get("goal") if isinstance(props, Mapping) else None
    return goal if isinstance(goal, str) else None


def _seconds(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)
