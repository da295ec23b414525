"""Importing logged bandit feedback from another system.

A CSV or Parquet file with ``timestamp``, ``action``, ``reward`` and
``propensity`` columns (every other column is a context feature) becomes
Tailor decisions with their rewards, so a team can evaluate policies and
warm-start a model on its history before going live. Every row is checked;
bad rows are reported by line and skipped, and the good ones are written in one
transaction, so a failure leaves nothing half-imported.

Tailor learns binary rewards (a click or a conversion): a row whose reward is
above zero becomes the slot's reward event, carrying the reward as its value,
and the report counts the rows whose reward was neither 0 nor 1.
"""

from __future__ import annotations

import csv
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import transaction

from content.models import Slot, Variant
from content.services import slot_publish
from tracking.models import DecisionLog, Event

REQUIRED = ("timestamp", "action", "reward", "propensity")
TEXT_FIELDS = {"device", "browser", "os", "country", "referrer", "referrer_host"}
# Whole numbers the engine reads as such, with the range each may take.
NUMBER_FIELDS = {"hour": (0, 23), "weekday": (0, 6), "visit_count": (1, 10**9)}
MAX_TEXT = 500
KEY = re.compile(r"^[-a-zA-Z0-9_]{1,64}$")


class ImportFileError(ValueError):
    """The file cannot be imported at all (unreadable, or a required column is missing)."""


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    variants_created: list[str] = field(default_factory=list)
    slot_created: bool = False
    non_binary_rewards: int = 0


def _records(path: Path) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    """Column names and (line number, row) pairs; CSV lines count the header as line 1."""
    if path.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        return table.column_names, [(i + 1, row) for i, row in enumerate(table.to_pylist())]
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        rows = []
        start = reader.line_num + 1  # the line a record starts on: quoted fields may span lines
        for fields in reader:
            if fields:  # a blank line is no record, but it still counts as a line
                record: dict[Any, Any] = {name: fields[i] if i < len(fields) else None for i, name in enumerate(header)}
                if len(fields) > len(header):
                    record[None] = fields[len(header) :]
                rows.append((start, record))
            start = reader.line_num + 1
        return header, rows


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    try:
        return datetime.fromtimestamp(float(text), tz=UTC)
    except ValueError:
        pass
    parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _whole_number(name: str, value: Any) -> int:
    low, high = NUMBER_FIELDS[name]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} {value!r} is not a number") from None
    if not number.is_integer() or not low <= number <= high:
        raise ValueError(f"{name} {value!r} must be a whole number from {low} to {high}")
    return int(number)


def _row_parse(row: dict[Any, Any]) -> tuple[datetime, str, float, float, dict[str, Any]]:
    if None in row:  # a row's surplus fields, beyond the header
        raise ValueError(f"the row has {len(row[None])} more field(s) than the header names")
    try:
        when = _timestamp(row["timestamp"])
    except (ValueError, OverflowError, OSError):
        raise ValueError(f"timestamp {row['timestamp']!r} is neither ISO 8601 nor epoch seconds") from None
    action = str(row["action"] or "").strip()
    if not KEY.match(action):
        raise ValueError(f"action {action!r} is not a variant key (letters, digits, - and _)")
    try:
        reward = float(row["reward"])
        propensity = float(row["propensity"])
    except (TypeError, ValueError):
        raise ValueError("reward and propensity must be numbers") from None
    if not math.isfinite(reward) or reward < 0:
        raise ValueError(f"reward {reward} must be a finite number ≥ 0")
    if not 0 < propensity <= 1:
        raise ValueError(f"propensity {propensity} must be in (0, 1]")
    context: dict[str, Any] = {"attributes": {}}
    for name, value in row.items():
        if isinstance(value, float) and math.isnan(value):
            value = None  # how pandas and Parquet write a missing number
        if name in REQUIRED or value is None or value == "":
            continue
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{name} is {value}: context features must be finite numbers")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ValueError(f"{name} is longer than {MAX_TEXT} characters")
        if name in NUMBER_FIELDS:
            context[name] = _whole_number(name, value)
        elif name in TEXT_FIELDS:
            context[name] = str(value)
        elif name.startswith("utm_"):
            context.setdefault("utm", {})[name[4:]] = str(value)
        elif isinstance(value, bool | int | float | str):
            context["attributes"][name] = value
        else:
            raise ValueError(f"{name} holds a {type(value).__name__}; context features are text, numbers or booleans")
    return when, action, reward, propensity, context


def _variants_ensure(slot_key: str, actions: set[str], report: ImportReport) -> None:
    slot = Slot.objects.filter(key=slot_key).first()
    if slot is None:
        slot_publish(
            {
                "key": slot_key,
                "name": slot_key.replace("-", " ").capitalize(),
                "description": "Created by import_decision_log.",
                "strategy": "model",
                "variants": [(a, a, 1, _placeholder_params(a)) for a in sorted(actions)],
            },
        )
        report.slot_created = True
        report.variants_created = sorted(actions)
        return
    existing = list(slot.variants.all())  # the published variants: an editor's draft is not ours to publish
    missing = sorted(actions - {v.key for v in existing})
    if not missing:
        return
    if slot.has_unpublished_changes:
        raise ImportFileError(
            f"Slot {slot_key!r} has an unpublished draft, and importing would publish it to add the variant(s) "
            f"{', '.join(missing)}. Publish or revert the draft in the admin, then import again."
        )
    slot.variants = [
        *[
            Variant(key=v.key, name=v.name, weight=v.weight, is_paused=v.is_paused, params=v.params.raw_data)
            for v in existing
        ],
        *[Variant(key=a, name=a, weight=1, params=_placeholder_params(a)) for a in missing],
    ]
    slot.save_revision(log_action=True).publish()
    report.variants_created = missing


def _placeholder_params(action: str) -> list[dict[str, Any]]:
    return [{"type": "notice", "value": {"headline": action, "body": "", "badge": "", "position": "default"}}]


def decision_log_import(path: Path, slot_key: str) -> ImportReport:
    if not KEY.match(slot_key):
        raise ImportFileError(f"{slot_key!r} is not a slot key.")
    try:
        columns, records = _records(path)
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as exc:
        raise ImportFileError(f"{path} cannot be read: {exc}") from exc
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ImportFileError(f"{path} lacks the column(s) {', '.join(missing)}; it needs {', '.join(REQUIRED)}.")
    report = ImportReport(rows=len(records))
    parsed = []
    for line, row in records:
        try:
            parsed.append(_row_parse(row))
        except ValueError as exc:
            report.errors.append((line, str(exc)))
    if not parsed:
        return report  # nothing to import: no slot or variant is created for a file of bad rows
    report.non_binary_rewards = sum(1 for _, _, reward, _, _ in parsed if reward not in (0.0, 1.0))
    with transaction.atomic():
        _variants_ensure(slot_key, {action for _, action, *_ in parsed}, report)
        reward_type = Slot.objects.get(key=slot_key).reward
        decisions, events = [], []
        for when, action, reward, propensity, context in parsed:
            # Each imported row is its own anonymous visitor: history from elsewhere has no Tailor ids.
            visitor, decision = uuid.uuid4(), uuid.uuid4()
            decisions.append(
                DecisionLog(
                    id=decision,
                    created_at=when,
                    visitor_id=visitor,
                    slot_key=slot_key,
                    variant_key=action,
                    policy="imported",
                    policy_version=path.name[:32],
                    propensity=propensity,
                    context=context,
                )
            )
            if reward > 0:
                events.append(
                    Event(
                        id=uuid.uuid4(),
                        visitor_id=visitor,
                        decision_id=decision,
                        type="conversion" if reward_type == "conversion" else "click",
                        ts=when,
                        received_at=when,
                        value=reward,
                        props={"imported": True},
                    )
                )
        DecisionLog.objects.bulk_create(decisions, batch_size=1000)
        Event.objects.bulk_create(events, batch_size=1000)
    report.imported = len(decisions)
    return report
