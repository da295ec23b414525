"""Segments: named sets of visitors described by rules on their ``Context``.

A ``SegmentSpec`` holds its rules and whether *all* or *any* must match. Rules
are small immutable objects with one ``matches(context)`` method, built once
when the segment is published and evaluated with plain arithmetic per request:
no query, no I/O, so the cost does not grow with the number of segments that
exist, only with those a slot actually consults.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from fnmatch import translate
from typing import Any, ClassVar, Protocol

from .clustering import CentroidModel
from .context import UTM_PARAMS, Context

MAX_MATCHED_TEXT = 512  # referrers are attacker-controlled; bound pattern work


class Rule(Protocol):
    kind: ClassVar[str]

    def matches(self, context: Context) -> bool: ...


def _folded(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.strip().casefold() for v in values if v and v.strip())


@dataclass(frozen=True, slots=True)
class DeviceRule:
    kind: ClassVar[str] = "device"
    devices: frozenset[str]

    def matches(self, context: Context) -> bool:
        return context.device in self.devices


@dataclass(frozen=True, slots=True)
class BrowserRule:
    kind: ClassVar[str] = "browser"
    families: frozenset[str]

    def matches(self, context: Context) -> bool:
        return context.browser.casefold() in self.families


@dataclass(frozen=True, slots=True)
class OSRule:
    kind: ClassVar[str] = "os"
    families: frozenset[str]

    def matches(self, context: Context) -> bool:
        return context.os.casefold() in self.families


@dataclass(frozen=True, slots=True)
class TimeOfDayRule:
    """Hours in [start, end); a window with start > end wraps past midnight."""

    kind: ClassVar[str] = "time_of_day"
    start_hour: int
    end_hour: int

    def matches(self, context: Context) -> bool:
        if self.start_hour <= self.end_hour:
            return self.start_hour <= context.hour < self.end_hour
        return context.hour >= self.start_hour or context.hour < self.end_hour


@dataclass(frozen=True, slots=True)
class DayOfWeekRule:
    kind: ClassVar[str] = "day_of_week"
    days: frozenset[int]

    def matches(self, context: Context) -> bool:
        return context.weekday in self.days


@dataclass(frozen=True, slots=True)
class ReferrerRule:
    """Referrer host (the host or any subdomain of it) or a glob pattern on the full referrer URL.

    Editors write globs (``*google.*``), not regular expressions, so a pattern
    can never be made to backtrack catastrophically.
    """

    kind: ClassVar[str] = "referrer"
    host: str = ""
    pattern: str = ""

    _regex: Any = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.compile(translate(self.pattern.casefold()), re.DOTALL) if self.pattern else None
        object.__setattr__(self, "_regex", regex)

    def matches(self, context: Context) -> bool:
        if self.host:
            host = context.referrer_host
            if not (host == self.host or host.endswith("." + self.host)):
                return False
        if self._regex is not None:
            return bool(self._regex.match(context.referrer[:MAX_MATCHED_TEXT].casefold()))
        return bool(self.host)


_TEXT_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "equals": operator.eq,
    "contains": operator.contains,
    "starts_with": str.startswith,
}


@dataclass(frozen=True, slots=True)
class UTMRule:
    kind: ClassVar[str] = "utm"
    param: str
    value: str
    operator: str = "equals"

    def __post_init__(self) -> None:
        if self.param not in UTM_PARAMS:
            raise ValueError(f"Unknown UTM parameter {self.param!r}; use one of {', '.join(UTM_PARAMS)}.")
        if self.operator not in _TEXT_OPERATORS:
            raise ValueError(f"Unknown operator {self.operator!r}; use one of {', '.join(_TEXT_OPERATORS)}.")

    def matches(self, context: Context) -> bool:
        actual = context.utm.get(self.param, "").casefold()
        return bool(actual) and _TEXT_OPERATORS[self.operator](actual, self.value.casefold())


@dataclass(frozen=True, slots=True)
class QueryParamRule:
    """A query-string parameter is present (empty value) or equals the value."""

    kind: ClassVar[str] = "query_param"
    name: str
    value: str = ""

    def matches(self, context: Context) -> bool:
        if self.name not in context.query:
            return False
        return not self.value or context.query[self.name] == self.value


@dataclass(frozen=True, slots=True)
class CountryRule:
    kind: ClassVar[str] = "country"
    countries: frozenset[str]

    def matches(self, context: Context) -> bool:
        return context.country.casefold() in self.countries


@dataclass(frozen=True, slots=True)
class LoggedInRule:
    kind: ClassVar[str] = "logged_in"
    logged_in: bool = True

    def matches(self, context: Context) -> bool:
        return context.is_authenticated is self.logged_in


_NUMBER_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


@dataclass(frozen=True, slots=True)
class VisitCountRule:
    kind: ClassVar[str] = "visit_count"
    operator: str
    value: int

    def __post_init__(self) -> None:
        if self.operator not in _NUMBER_OPERATORS:
            raise ValueError(f"Unknown operator {self.operator!r}; use one of {', '.join(_NUMBER_OPERATORS)}.")

    def matches(self, context: Context) -> bool:
        return _NUMBER_OPERATORS[self.operator](context.visit_count, self.value)


@dataclass(frozen=True, slots=True)
class ReturningRule:
    kind: ClassVar[str] = "returning"
    returning: bool = True

    def matches(self, context: Context) -> bool:
        return context.is_returning is self.returning


@dataclass(frozen=True, slots=True)
class FeatureRule:
    """A behavioural rule on a real-time visitor feature, e.g. ``avg_scroll_depth > 70``.

    A feature the visitor does not have yet (no scrolls recorded) never matches.
    """

    kind: ClassVar[str] = "behaviour"
    reads_features: ClassVar[bool] = True
    feature: str
    operator: str
    value: float

    def __post_init__(self) -> None:
        if self.operator not in _NUMBER_OPERATORS:
            raise ValueError(f"Unknown operator {self.operator!r}; use one of {', '.join(_NUMBER_OPERATORS)}.")

    def matches(self, context: Context) -> bool:
        actual = context.features.get(self.feature)
        return actual is not None and _NUMBER_OPERATORS[self.operator](actual, self.value)


@dataclass(frozen=True, slots=True)
class ClusterRule:
    """The visitor's real-time features lie nearest this cluster's centre, of all the centres of its clustering run.

    Made from a behaviour cluster in the admin: ``centres`` holds the run's
    scaling and every centre (a ``CentroidModel`` or its stored form), so a
    visitor who arrived after the run is placed in-process, like any other
    rule. A visitor without any behaviour yet never matches. ``summary`` is
    for people reading the segment; membership does not use it.
    """

    kind: ClassVar[str] = "cluster"
    reads_features: ClassVar[bool] = True
    centres: CentroidModel | Mapping[str, Any]
    cluster: int
    summary: str = ""

    def __post_init__(self) -> None:
        centres = self.centres if isinstance(self.centres, CentroidModel) else CentroidModel.from_dict(self.centres)
        if not 0 <= self.cluster < len(centres.centroids):
            raise ValueError(
                f"Cluster {self.cluster} does not exist; the run has clusters 0 to {len(centres.centroids) - 1}."
            )
        object.__setattr__(self, "centres", centres)

    def matches(self, context: Context) -> bool:
        return self.centres.nearest(context.features) == self.cluster  # type: ignore[union-attr]


RULE_TYPES: dict[str, Callable[..., Rule]] = {
    cls.kind: cls
    for cls in (
        DeviceRule,
        BrowserRule,
        OSRule,
        TimeOfDayRule,
        DayOfWeekRule,
        ReferrerRule,
        UTMRule,
        QueryParamRule,
        CountryRule,
        LoggedInRule,
        VisitCountRule,
        ReturningRule,
        FeatureRule,
        ClusterRule,
    )
}


_INTEGER_FIELDS = {"time_of_day": ("start_hour", "end_hour"), "visit_count": ("value",), "cluster": ("cluster",)}
_FLOAT_FIELDS = {"behaviour": ("value",)}


def rule_from_dict(data: dict[str, Any]) -> Rule:
    """Build a rule from its stored form ``{"kind": ..., **fields}``."""
    data = dict(data)
    kind = data.pop("kind", None)
    if kind not in RULE_TYPES:
        raise ValueError(f"Unknown segment rule kind {kind!r}; use one of {', '.join(RULE_TYPES)}.")
    try:
        for name in ("devices", "families", "countries"):
            if name in data:
                data[name] = _folded(data[name])
        if "days" in data:
            data["days"] = frozenset(int(d) for d in data["days"])
        for name in ("host", "pattern"):
            if name in data:
                data[name] = str(data[name] or "").strip()
        if "host" in data:
            data["host"] = data["host"].casefold()
        for name in _INTEGER_FIELDS.get(kind, ()):
            if name in data:
                data[name] = int(data[name])
        for name in _FLOAT_FIELDS.get(kind, ()):
            if name in data:
                data[name] = float(data[name])
        for name in ("logged_in", "returning"):
            if name in data:
                data[name] = bool(data[name])
        return RULE_TYPES[kind](**data)
    except (TypeError, KeyError) as exc:
        raise ValueError(f"Invalid {kind!r} rule {data!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class SegmentSpec:
    key: str
    rules: tuple[Rule, ...]
    match: str = "all"  # "all" or "any"

    def __post_init__(self) -> None:
        if self.match not in ("all", "any"):
            raise ValueError(f"Segment match must be 'all' or 'any', not {self.match!r}.")

    @property
    def uses_features(self) -> bool:
        return any(getattr(rule, "reads_features", False) for rule in self.rules)

    def matches(self, context: Context) -> bool:
        # A segment with no rules matches nobody: an empty segment is unfinished, not "everyone".
        if not self.rules:
            return False
        # Plain loops, not all()/any() over a generator: a page matches every published segment in a slot's rules.
        if self.match == "all":
            for rule in self.rules:
                if not rule.matches(context):
                    return False
            return True
        for rule in self.rules:
            if rule.matches(context):
                return True
        return False
