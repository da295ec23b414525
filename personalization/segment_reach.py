"""A segment's reach: about how many recent visitors it would match, to size it before publishing.

The latest decision of each of at most ``SEGMENT_REACH_SAMPLE`` visitors seen within ``SEGMENT_REACH_DAYS``
(bots left out) holds the context they were served in; the segment's rules, compiled exactly as serving
compiles them, are matched against those contexts, with each visitor's current real-time features when a
rule reads features. A full sample is scaled to the number of visitors seen in the window. One query for the
sample per screen, one more for a count; each segment's figure is cached for a few minutes.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from personalization.conf import setting
from personalization.engine import Context, SegmentSpec
from personalization.models import Segment
from personalization.serving.segments import segment_spec_compile
from tracking.feature_store import visitors_features_get
from tracking.models import DecisionLog, Visitor
from tracking.outages import outage_guard

CACHE_SECONDS = 300
ROWS_PER_VISITOR = 4  # decision rows read per sampled visitor: a visitor is logged once per slot on a page


@dataclass(frozen=True)
class SegmentReach:
    matched: int  # sampled visitors the segment matches
    sampled: int  # distinct visitors in the sample
    visitors: int  # distinct visitors seen in the window (the sample's size when it holds them all)
    days: int

    @property
    def share(self) -> float:
        return self.matched / self.sampled if self.sampled else 0.0

    @property
    def words(self) -> str:
        if not self.sampled:
            return f"No visitors in the last {self.days} days to estimate from."
        about = round(self.share * self.visitors)
        percent = self.share * 100
        shown = f"{percent:.0f}" if percent >= 10 or percent == 0 else f"{percent:.1f}"
        return f"about {about} of {self.visitors} recent visitors ({shown} %)"


@dataclass
class ReachSample:
    contexts: dict[str, dict[str, Any]]  # visitor id -> the context of their latest decision
    visitors: int
    days: int
    at: float
    _features: dict[str, dict[str, Any]] | None = None

    def features(self) -> dict[str, dict[str, Any]]:
        # Read once per sample, and only when a segment reads features.
        if self._features is None:
            self._features = visitors_features_get(list(self.contexts), self.at)
        return self._features


def reach_sample() -> ReachSample:
    """The latest decision context of at most ``SEGMENT_REACH_SAMPLE`` recent visitors: bounded, newest first."""
    days, size = int(setting("SEGMENT_REACH_DAYS")), int(setting("SEGMENT_REACH_SAMPLE"))
    since = timezone.now() - timedelta(days=days)
    rows = (
        DecisionLog.objects.filter(created_at__gte=since, is_bot=False, visitor_id__isnull=False)
        .order_by("-created_at")
        .values_list("visitor_id", "context")[: size * ROWS_PER_VISITOR]
    )
    contexts: dict[str, dict[str, Any]] = {}
    for visitor_id, context in rows.iterator():
        key = str(visitor_id)
        if key not in contexts:
            contexts[key] = context if isinstance(context, dict) else {}
            if len(contexts) >= size:
                break
    visitors = len(contexts)
    if visitors >= size:  # a full sample: the window holds more visitors than it
        visitors = max(visitors, Visitor.objects.filter(last_seen_at__gte=since).count())
    return ReachSample(contexts=contexts, visitors=visitors, days=days, at=time.time())


def reach_of(spec: SegmentSpec, sample: ReachSample) -> SegmentReach:
    features = sample.features() if spec.uses_features else {}
    matched = 0
    for visitor_id, context in sample.contexts.items():
        data = {**context, "features": features[visitor_id]} if visitor_id in features else context
        try:
            hit = spec.matches(Context.from_mapping(data))
        except (TypeError, ValueError):  # a context logged by an older version: counts as not matched
            hit = False
        matched += hit
    return SegmentReach(matched=matched, sampled=len(sample.contexts), visitors=sample.visitors, days=sample.days)


def _cache_key(segment: Segment) -> str:
    rules = json.dumps([segment.match, segment.is_active, segment.rules.get_prep_value()], sort_keys=True, default=str)
    digest = hashlib.sha256(rules.encode()).hexdigest()[:24]
    return f"tailor:segment-reach:{digest}:{setting('SEGMENT_REACH_DAYS')}:{setting('SEGMENT_REACH_SAMPLE')}"


def segments_reach(segments: Iterable[Segment]) -> dict[int | None, SegmentReach]:
    """Each segment's reach as its rules stand on the object given (the draft on an edit screen), by pk.

    Figures come from the cache when the same rules were estimated within minutes; the sample is read
    only for the others, once for all of them.
    """
    segments = list(segments)
    keys = {id(s): _cache_key(s) for s in segments}
    cached: dict[str, Any] = {}
    with outage_guard("cache", "segment reach not read from the cache; estimating it"):
        cached = cache.get_many(list(keys.values()))
    out: dict[int | None, SegmentReach] = {}
    sample: ReachSample | None = None
    fresh: dict[str, SegmentReach] = {}
    for segment in segments:
        key = keys[id(segment)]
        if isinstance(cached.get(key), SegmentReach):
            out[segment.pk] = cached[key]
            continue
        sample = sample or reach_sample()
        # As published: an inactive segment matches nobody; a draft is estimated as if it were published.
        spec = segment_spec_compile(segment, published_only=False)
        out[segment.pk] = fresh[key] = reach_of(spec, sample)
    if fresh:
        with outage_guard("cache", "segment reach not cached"):
            cache.set_many(fresh, timeout=CACHE_SECONDS)
    return out


def segment_reach(segment: Segment) -> SegmentReach:
    return segments_reach([segment])[segment.pk]
