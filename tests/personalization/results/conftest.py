"""A hand-made decision log with its events, for the results rollup and its readers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tracking.models import DecisionLog, Event

D1 = datetime(2026, 11, 30, tzinfo=UTC)
D2 = D1 + timedelta(days=1)


def at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day + timedelta(hours=hour, minutes=minute)


def decision(
    visitor,
    variant: str,
    when: datetime,
    *,
    slot: str = "hero",
    is_bot: bool = False,
    policy: str = "split",
    policy_version: str = "",
) -> uuid.UUID:
    decision_id = uuid.uuid4()
    DecisionLog.objects.create(
        id=decision_id,
        created_at=when,
        visitor_id=visitor,
        slot_key=slot,
        variant_key=variant,
        policy=policy,
        policy_version=policy_version,
        propensity=0.5,
        is_bot=is_bot,
    )
    return decision_id


def event(visitor, kind: str, when: datetime, decision_id=None, value=None, *, is_bot: bool = False) -> None:
    Event.objects.create(
        id=uuid.uuid4(),
        visitor_id=visitor,
        decision_id=decision_id,
        type=kind,
        ts=when,
        received_at=when,
        value=value,
        is_bot=is_bot,
    )


def seen(visitor, variant: str, when: datetime, **kwargs) -> uuid.UUID:
    """A decision and its impression a second later."""
    decision_id = decision(visitor, variant, when, **kwargs)
    event(visitor, "impression", when + timedelta(seconds=1), decision_id, is_bot=kwargs.get("is_bot", False))
    return decision_id
