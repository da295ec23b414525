"""Explanations of logged decisions: the engine's words, with the model re-read from the log.

``decision_records_explain`` takes decision records as the log holds them (policy, version, reason,
propensity, the context snapshot with the visitor's features) and explains each with
``engine.explain``. For a model's choice it loads the model version the record names (the catalog's
when that is the one serving, else the stored ``ModelVersion``), featurizes the logged context with
every live candidate of the slot (their attributes as published now, as training reads them) and asks
LightGBM for each feature's contribution. One query for the names of the segments and experiments a
batch mentions, one per model version not serving; nothing is written. The decisions API, the
visitor's export and the admin's decision explorer (``decisions_lookup``) all come through here.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from personalization.engine import Context
from personalization.engine.explain import Explanation, ModelReading, decision_explain, model_effects
from tracking.decision_sinks import DecisionSink
from tracking.features import feature_label
from tracking.services import DecisionRecord

logger = logging.getLogger(__name__)


class RecordingSink:
    """Passes each decision on to ``sink`` and keeps its record, so the caller can explain what it decided."""

    def __init__(self, sink: DecisionSink) -> None:
        self.sink = sink
        self.records: list[DecisionRecord] = []

    def add(self, record: DecisionRecord) -> None:
        self.records.append(record)
        self.sink.add(record)

    def cache_set(self, key: str, value: Any, timeout: int) -> None:
        self.sink.cache_set(key, value, timeout)

    def cache_pending(self, key: str) -> Any:
        return self.sink.cache_pending(key)


def _names(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, str], dict[str, str]]:
    """The segment and experiment names a batch of records mentions, by key."""
    from personalization.models import Experiment, Segment

    segments = {
        reason.split(":", 1)[1]
        for reason in (str(r.get("reason") or "") for r in records)
        if reason.startswith(("segment:", "bandit:")) and reason.split(":", 1)[1]
    }
    experiments = {str(r.get("policy_version") or "") for r in records if r.get("policy") == "experiment"}
    segment_names = dict(Segment.objects.filter(key__in=segments).values_list("key", "name")) if segments else {}
    experiment_names = (
        dict(Experiment.objects.filter(key__in=experiments).values_list("key", "name")) if experiments else {}
    )
    return segment_names, experiment_names


def _model(slot_key: str, version: str) -> Any:
    """The reward model of this version for this slot, or None if it is not stored (or cannot be read)."""
    from personalization.serving.catalog import catalog_get

    compiled = catalog_get().slots.get(slot_key)
    serving = getattr(compiled.policy, "model", None) if compiled is not None else None
    if serving is not None and compiled is not None and compiled.policy.model_version == version:
        return serving  # the model serving now: already loaded, no query
    if not version.isdigit():
        return None
    from personalization.models import ModelVersion
    from personalization.serving.model_store import model_load

    stored = ModelVersion.objects.filter(pk=int(version), slot_key=slot_key).values_list("model_text", flat=True)
    text = stored.first()
    if not text:
        return None
    try:
        return model_load(int(version), text)
    except ValueError:
        logger.warning("Model version %s of slot %r cannot be read; its decisions go unexplained.", version, slot_key)
        return None


def _candidates(slot_key: str, chosen: str) -> list[Any]:
    """The slot's live variants as the model sees them (the chosen one included even if paused since)."""
    from personalization.engine.featurize import VariantFeatures, variant_features
    from personalization.serving.catalog import catalog_get

    compiled = catalog_get().slots.get(slot_key)
    if compiled is None:
        return [VariantFeatures(key=chosen, template="")]
    keys = [candidate.key for candidate in compiled.candidates]
    if chosen not in keys:
        keys.append(chosen)
    known = getattr(compiled.policy, "variants", None) or {}
    out = []
    for key in dict.fromkeys(keys):
        if key in known:
            out.append(known[key])
        elif key in compiled.variants:
            variant = compiled.variants[key]
            out.append(variant_features(key, variant.template, variant.params))
        else:
            out.append(VariantFeatures(key=key, template=""))
    return out


def _model_reading(record: Mapping[str, Any]) -> tuple[ModelReading | None, str]:
    """The model's reading of a model decision, or None and why not."""
    from personalization.engine.featurize import row_features

    slot_key, version, chosen = str(record["slot_key"]), str(record["policy_version"]), str(record["variant_key"])
    model = _model(slot_key, version)
    if model is None:
        return None, f"Model #{version} is no longer stored, so the features behind this choice cannot be shown."
    try:
        context = Context.from_mapping(record.get("context") or {})
        variants = _candidates(slot_key, chosen)
        keys = [variant.key for variant in variants]
        rows = [row_features(context, variant) for variant in variants]
        contributions = model.contributions(rows)
    except (TypeError, ValueError, AttributeError, OverflowError):
        # A context written by hand or by an old import can fail to featurize, as training skips it.
        return None, "The logged context cannot be read as model features, so the features cannot be shown."
    reading = model_effects(contributions, model.schema.columns, keys, rows, chosen, feature_label=feature_label)
    return reading, ""


def decision_record_explain(
    record: Mapping[str, Any],
    *,
    segment_names: Mapping[str, str] | None = None,
    experiment_names: Mapping[str, str] | None = None,
) -> Explanation:
    reading, note = None, ""
    if record.get("policy") == "model" and record.get("reason") != "uniform":
        reading, note = _model_reading(record)
    return decision_explain(
        policy=str(record.get("policy") or ""),
        policy_version=str(record.get("policy_version") or ""),
        reason=str(record.get("reason") or ""),
        propensity=float(record.get("propensity") or 0.0),
        segment_names=segment_names,
        experiment_names=experiment_names,
        reading=reading,
        chosen=str(record.get("variant_key") or ""),
        note=note,
    )


def decision_records_explain(records: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each record's explanation (``Explanation.to_dict()``), by decision id (32 hex digits)."""
    records = list(records)
    if not records:
        return {}
    segment_names, experiment_names = _names(records)
    out = {}
    for record in records:
        decision_id = record["id"]
        key = decision_id.hex if hasattr(decision_id, "hex") else str(decision_id)
        explanation = decision_record_explain(record, segment_names=segment_names, experiment_names=experiment_names)
        out[key] = explanation.to_dict()
    return out


@dataclass(frozen=True)
class ExplainedDecision:
    """One logged decision with its explanation, as the admin's decision explorer lists it."""

    id: str
    created_at: datetime
    visitor_id: str
    slot_key: str
    variant_key: str
    is_bot: bool
    explanation: dict[str, Any]


@dataclass(frozen=True)
class DecisionLookup:
    """What an id names: one decision ("decision"), a visitor's latest decisions ("visitor"), or nothing ("")."""

    kind: str
    decisions: tuple[ExplainedDecision, ...] = ()
    more: bool = False  # the visitor has older decisions than those listed
    older_than: str = ""  # the page lists decisions older than this one of the visitor's (its id), or from the latest


def decisions_lookup(value: uuid.UUID, *, limit: int = 50, before: uuid.UUID | None = None) -> DecisionLookup:
    """The decision with this id, else the visitor's ``limit`` latest decisions, each explained.

    ``before``: one of the visitor's decisions; the page then starts with the next older one (keyset paging on
    time then id, so a page never repeats or skips a decision logged meanwhile). An id that is not one of
    the visitor's lists from the latest.
    """
    from django.db.models import Q

    from tracking.models import DecisionLog

    fields = (
        "id",
        "created_at",
        "visitor_id",
        "slot_key",
        "variant_key",
        "policy",
        "policy_version",
        "reason",
        "propensity",
        "context",
        "is_bot",
    )
    rows = list(DecisionLog.objects.filter(id=value).values(*fields))
    kind = "decision"
    more = False
    older_than = ""
    if not rows:
        kind = "visitor"
        decisions = DecisionLog.objects.filter(visitor_id=value)
        if before is not None:
            anchor = decisions.filter(id=before).values_list("created_at", flat=True).first()
            if anchor is not None:
                decisions = decisions.filter(Q(created_at__lt=anchor) | Q(created_at=anchor, id__lt=before))
                older_than = before.hex
        rows = list(decisions.order_by("-created_at", "-id").values(*fields)[: limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
    if not rows:
        return DecisionLookup(kind="")
    for row in rows:
        row["id"] = row["id"].hex
    explanations = decision_records_explain(rows)
    return DecisionLookup(
        kind=kind,
        decisions=tuple(
            ExplainedDecision(
                id=row["id"],
                created_at=row["created_at"],
                visitor_id=row["visitor_id"].hex if row["visitor_id"] else "",
                slot_key=row["slot_key"],
                variant_key=row["variant_key"],
                is_bot=row["is_bot"],
                explanation=explanations[row["id"]],
            )
            for row in rows
        ),
        more=more,
        older_than=older_than,
    )
