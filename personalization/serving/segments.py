"""Compiling stored segments into engine ``SegmentSpec`` objects.

A segment whose rules cannot be compiled (say, data written by an older
version) is logged and compiled to match nobody: a broken segment must never
put visitors into the wrong variant, nor break the page.
"""

from __future__ import annotations

import logging
from typing import Any

from personalization.engine.segments import SegmentSpec, rule_from_dict
from personalization.models import Segment

logger = logging.getLogger(__name__)

_LIST_FIELDS = ("families", "countries")


def _rule_data(block_type: str, value: Any) -> dict[str, Any]:
    data = {"kind": block_type, **dict(value)}
    for name in _LIST_FIELDS:
        if isinstance(data.get(name), str):
            data[name] = [part for part in data[name].split(",") if part.strip()]
    if block_type == "time_of_day":
        data["end_hour"] = int(data["end_hour"])
        data["start_hour"] = int(data["start_hour"])
    if block_type in ("logged_in", "returning"):
        data[block_type] = bool(data.get(block_type))
    for name in ("host", "pattern"):
        if block_type == "referrer":
            data[name] = data.get(name) or ""
    return data


def segment_spec_compile(segment: Segment, *, published_only: bool = True) -> SegmentSpec:
    """The segment as the engine evaluates it. The row is the published version (drafts live in revisions),
    so a segment never published matches nobody; ``published_only=False`` compiles a draft as it stands
    (for a reach estimate before publishing)."""
    if not segment.is_active or (published_only and not segment.live):
        return SegmentSpec(key=segment.key, rules=(), match=segment.match)
    try:
        rules = tuple(rule_from_dict(_rule_data(block.block_type, block.value)) for block in segment.rules)
    except (ValueError, TypeError, KeyError) as exc:
        logger.error("Segment %r has a rule that cannot be compiled (%s); it matches nobody.", segment.key, exc)
        rules = ()
    return SegmentSpec(key=segment.key, rules=rules, match=segment.match)


def segment_specs_all() -> dict[int, SegmentSpec]:
    return {segment.pk: segment_spec_compile(segment) for segment in Segment.objects.all()}
