"""Reads of the tracking record: rewards per decision and everything stored about a visitor."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

from django.db.models import Max, Min

from .conf import setting
from .ingest import visitor_features_get
from .models import Consent, DecisionLog, Event, Visitor
from .rewards import Reward, rewards_compute


def decision_rewards(decision_ids: list[str]) -> dict[str, Reward]:
    """Rewards of the given decisions (hex ids), from the events of their visitors within the window."""
    ids = [uuid.UUID(d) for d in decision_ids]
    decisions = list(DecisionLog.objects.filter(id__in=ids).values("id", "visitor_id", "slot_key", "created_at"))
    if not decisions:
        return {}
    window = setting("ATTRIBUTION_WINDOW_SECONDS")
    span = DecisionLog.objects.filter(id__in=ids).aggregate(first=Min("created_at"), last=Max("created_at"))
    visitors = {d["visitor_id"] for d in decisions if d["visitor_id"]}
    events = Event.objects.filter(
        visitor_id__in=visitors,
        ts__gte=span["first"] - timedelta(minutes=5),
        ts__lte=span["last"] + timedelta(seconds=window),
        is_bot=False,
    ).values("type", "decision_id", "visitor_id", "ts", "value", "is_bot")
    as_hex = [{**d, "id": d["id"].hex} for d in decisions]
    events_hex = [{**e, "decision_id": e["decision_id"].hex if e["decision_id"] else None} for e in events]
    return rewards_compute(as_hex, events_hex, window_seconds=window)


def visitor_export(visitor_id: str) -> dict[str, Any]:
    """Everything stored about one visitor, JSON-ready."""
    vid = uuid.UUID(visitor_id)
    visitor = (
        Visitor.objects.filter(id=vid).values("id", "created_at", "last_seen_at", "visit_count", "user_id").first()
    )
    consent = Consent.objects.filter(visitor_id=vid).values("analytics", "personalization", "updated_at").first()
    events = (
        Event.objects.filter(visitor_id=vid)
        .order_by("ts")
        .values("id", "type", "decision_id", "ts", "value", "props", "ip_prefix")
    )
    decisions = (
        DecisionLog.objects.filter(visitor_id=vid)
        .order_by("created_at")
        .values("id", "created_at", "slot_key", "variant_key", "policy", "propensity", "context")
    )
    return {
        "visitor_id": str(vid),
        "visitor": visitor,
        "consent": consent,
        "events": list(events),
        "decisions": list(decisions),
        "features": visitor_features_get(str(vid), time.time()),
    }
