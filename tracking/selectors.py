"""Reads of the tracking record: rewards per decision and everything stored about a visitor."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

from django.db.models import Max, Min

from tracking.feature_store import visitor_features_get

from .conf import setting
from .export_hooks import decisions_explain
from .models import Consent, DeadLetter, DecisionLog, Event, Visitor
from .rewards import Reward, rewards_compute


def decision_rewards(decision_ids: list[str]) -> dict[str, Reward]:
    """Rewards of the given decisions (hex ids), from the events of their visitors within the window.

    Conversions are credited among *all* of those visitors' decisions around
    them, not just the ones asked about, so the answer for a decision never
    depends on which others were in the same request.
    """
    ids = [uuid.UUID(d) for d in decision_ids]
    asked = DecisionLog.objects.filter(id__in=ids)
    span = asked.aggregate(first=Min("created_at"), last=Max("created_at"))
    if span["first"] is None:
        return {}
    window = timedelta(seconds=setting("ATTRIBUTION_WINDOW_SECONDS"))
    visitors = set(asked.exclude(visitor_id=None).values_list("visitor_id", flat=True))
    decisions = DecisionLog.objects.filter(
        visitor_id__in=visitors, created_at__gte=span["first"] - window, created_at__lte=span["last"] + window
    ).values("id", "visitor_id", "slot_key", "created_at")
    anonymous = asked.filter(visitor_id=None).values("id", "visitor_id", "slot_key", "created_at")
    events = Event.objects.filter(
        visitor_id__in=visitors,
        ts__gte=span["first"] - timedelta(minutes=5),
        ts__lte=span["last"] + window,
        is_bot=False,
    ).values("type", "decision_id", "visitor_id", "ts", "value", "is_bot")
    all_decisions = [{**d, "id": d["id"].hex} for d in [*decisions, *anonymous]]
    events_hex = [{**e, "decision_id": e["decision_id"].hex if e["decision_id"] else None} for e in events]
    rewards = rewards_compute(all_decisions, events_hex, window_seconds=window.total_seconds())
    wanted = {i.hex for i in ids}
    return {k: v for k, v in rewards.items() if k in wanted}


def visitor_export(visitor_id: str) -> dict[str, Any]:
    """Everything stored about one visitor, JSON-ready.

    Decision ids are written as everywhere else (32 hex digits, as in the page's
    ``data-tailor-decision`` and both APIs), so a visitor can match them; event
    ids stay in the form the client sent.
    """
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
        .values(
            "id", "created_at", "slot_key", "variant_key", "policy", "policy_version", "reason", "propensity", "context"
        )
    )
    decision_rows = [{**d, "id": d["id"].hex} for d in decisions]
    explanations = decisions_explain(decision_rows)
    dead_letters = (
        DeadLetter.objects.filter(visitor_id=vid).order_by("id").values("kind", "created_at", "reason", "payload")
    )
    return {
        "visitor_id": str(vid),
        "visitor": visitor,
        "consent": consent,
        # Records the database refused, as they arrived (see "Reliability" in the README).
        "dead_letters": [{**d, "payload": json.loads(d["payload"])} for d in dead_letters],
        "events": [{**e, "decision_id": e["decision_id"].hex if e["decision_id"] else None} for e in events],
        # Each with why it was made ("Why am I seeing this"), from the explainer personalization registers.
        "decisions": [{**d, "explanation": explanations.get(d["id"])} for d in decision_rows],
        "features": visitor_features_get(str(vid), time.time()),
    }
