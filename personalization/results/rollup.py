"""The results rollup: the decision log and its rewards, summed per slot × variant × day.

The unit of analysis is the visitor, the unit sticky assignment randomizes, and a visitor counts
once they saw the slot (an impression of one of their decisions), so an unseen slot does not
dilute a result. Visitor-level sums are not additive across days when a visitor comes back, so a
visitor is counted on the day of their first exposure to a variant (their cohort day), with
their outcomes after it: the rewards, as ``tracking.rewards`` attributes them, of their decisions
of that variant made within the attribution window after that first exposure (clicked, converted,
value, seconds visible). A window's n, Σy and Σy² are then sums of day rows. Plain traffic
(decisions, impressions, clicks, conversions, visitors who saw it) is counted on the decision's day.

Rows are also split by assignment group, read from the decision's policy: "holdout" (the slot's
holdout, always on the default), "experiment:<key>" (an experiment's arms) or "" (the slot's own
strategy), so an experiment's figures are its arms' alone and a visitor who moves between groups
is a cohort member of each. ``GroupDay`` counts the same cohorts once per slot and group over
every variant (first exposure to the slot within the group): what a holdout is compared with.

Each cohort row also carries CUPED's sums: x, a visitor's prior visits (``visit_count - 1`` of
the context logged with their first exposure, capped; see ``PriorVisits``), as Σx, Σx² and Σxy
for each outcome y, so the results can subtract what a visitor's past already predicts. x is
read at the first exposure, before the visitor saw anything of the slot, so no variant can move it.

Each goal gets ``GoalDay`` rows beside them (conversions recorded under a goal, ``props.goal``):
the same cohorts, the visitors among them who reached that goal and its value, so a result can be
read for one goal among several; the goal's key is read in SQL for conversions only.

A run re-rolls whole days, from a start day to today: late events and recent visitors' outcomes
are still arriving, so by default it starts ``RESULTS_LOOKBACK_SECONDS`` plus twice the
attribution window before now (earlier when runs were missed: from the last day rolled). Those
days' rows are upserted by (slot, group, variant, day[, goal]) and rows left without data deleted, so
re-running gives the same numbers. Decisions are read in visitor order in bounded chunks, each
chunk with its visitors' events; a visitor already exposed before the start day belongs to an
earlier, final cohort and is not counted again. Bots never count.
"""

from __future__ import annotations

import logging
import time as timer
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from itertools import groupby
from operator import itemgetter
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    FloatField,
    Func,
    Max,
    Min,
    OuterRef,
    TextField,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Concat, TruncDate
from django.utils import timezone

from tracking.conf import setting as tracking_setting
from tracking.models import DecisionLog, Event
from tracking.rewards import Reward, rewards_compute

from ..conf import setting
from ..models import GoalDay, GroupDay, VariantDay

logger = logging.getLogger(__name__)

OUTCOME_EVENTS = ("impression", "click", "dwell", "conversion")
# Event times are the client's clock: an impression may be stamped a little before its decision.
EVENT_SLACK = timedelta(days=1)

Key = tuple[str, str, str, date]  # (slot key, group, variant key, day)
GroupKey = tuple[str, str, date]  # (slot key, group, day)
GoalKey = tuple[str, str, str, date, str]  # (slot key, group, variant key or "" for the group, day, goal)
ALL_VARIANTS = ""  # GoalDay's variant key for a group's cohort over every variant (GroupDay's visitors)
# (id, visitor id, slot key, variant key, created at, group, prior visits)
DecisionRow = tuple[Any, Any, str, str, datetime, str, float]

# The assignment group of a decision, from the policy serving logged (see CONTRACTS: "holdout",
# "experiment:<key>", or "" for the slot's own strategy); computed by the database, one short column.
GROUP = Case(
    When(policy="holdout", then=Value("holdout")),
    When(policy="experiment", then=Concat(Value("experiment:"), "policy_version")),
    default=Value(""),
    output_field=CharField(),
)

# The goal a conversion was recorded under (``props.goal``, a key ingest checked); NULL for other events,
# so the database reads the JSON of conversions only.
GOAL = Case(
    When(type="conversion", then=KeyTextTransform("goal", "props")),
    default=Value(None),
    output_field=CharField(),
)

# CUPED's covariate: the visitor's visits before the one of the decision, read from the context the
# decision logged (``visit_count``, the visit number, counted by the server: every slot has it),
# capped so a bot-like visitor with thousands of visits cannot own the regression.
PRIOR_VISITS_KEY = "visit_count"
PRIOR_VISITS_CAP = 50


class PriorVisits(Func):
    """A decision's prior visits, ``visit_count - 1`` of its context, as a number in 0..PRIOR_VISITS_CAP.

    Computed by the database, so the rollup never parses the context: a value that is absent or
    not a JSON number (a string, a list, an object) counts as a first visit (0, as
    ``Context`` reads a missing visit count), and a negative or huge one is clamped in the
    database's exact numbers before it becomes a float (1e400 is 50, not infinity or an error).
    """

    output_field = FloatField()

    def __init__(self) -> None:
        super().__init__(F("context"))

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:
        # Only SQLite and PostgreSQL are supported; elsewhere every visitor gets 0 and CUPED stays off.
        return "0.0", ()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:
        value, params = compiler.compile(KeyTransform(PRIOR_VISITS_KEY, self.source_expressions[0]))
        sql = (
            f"CASE WHEN jsonb_typeof({value}) = 'number'"
            f" THEN LEAST(GREATEST(({value})::numeric - 1, 0), {PRIOR_VISITS_CAP:d})::double precision"
            " ELSE 0.0 END"
        )
        return sql, (*params, *params)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, tuple[Any, ...]]:
        column, params = compiler.compile(self.source_expressions[0])
        path = f"$.{PRIOR_VISITS_KEY}"
        # The column's CHECK (JSON_VALID) keeps malformed JSON out, on which json_type would raise.
        sql = (
            f"CASE WHEN json_type({column}, %s) IN ('integer', 'real')"
            f" THEN MIN(MAX(json_extract({column}, %s) - 1, 0), {PRIOR_VISITS_CAP:d}) ELSE 0.0 END"
        )
        return sql, (*params, path, *params, path)


@dataclass
class DayCounts:
    """One ``VariantDay`` row being summed."""

    decisions: int = 0
    impressions: int = 0
    clicks: int = 0
    conversions: int = 0
    visitors_seen: int = 0
    visitors: int = 0
    visitors_clicked: int = 0
    visitors_converted: int = 0
    value_sum: float = 0.0
    value_squares: float = 0.0
    dwell_sum: float = 0.0
    dwell_squares: float = 0.0
    pre_sum: float = 0.0
    pre_squares: float = 0.0
    pre_cross_clicked: float = 0.0
    pre_cross_converted: float = 0.0
    pre_cross_value: float = 0.0
    pre_cross_dwell: float = 0.0


@dataclass(slots=True)
class GoalCounts:
    """One ``GoalDay`` row being summed."""

    conversions: int = 0
    visitors_converted: int = 0
    value_sum: float = 0.0
    value_squares: float = 0.0
    pre_cross_converted: float = 0.0
    pre_cross_value: float = 0.0


COUNTERS = tuple(counter.name for counter in fields(DayCounts))  # the VariantDay figures, in one place
GOAL_COUNTERS = tuple(counter.name for counter in fields(GoalCounts))
# The cohort figures, which GroupDay holds too.
COHORT = (
    "visitors",
    "visitors_clicked",
    "visitors_converted",
    "value_sum",
    "value_squares",
    "dwell_sum",
    "dwell_squares",
    "pre_sum",
    "pre_squares",
    "pre_cross_clicked",
    "pre_cross_converted",
    "pre_cross_value",
    "pre_cross_dwell",
)


@dataclass(frozen=True)
class RollupReport:
    start: date | None  # the first day re-rolled; None when there was nothing to roll
    decisions: int  # decisions read (bots excluded)
    rows: int  # VariantDay rows written (GroupDay rows are not counted)
    deleted: int  # rows of re-rolled days that no longer have data
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "start": self.start.isoformat() if self.start else None}


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def _moment(value: Any) -> datetime:
    """A timestamp as the driver returns it, made aware: SQLite's are UTC, as text or naive datetimes."""
    moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _text(field: str) -> Cast:
    """A column read as text: ids hash and compare as plain strings (a ``UUID`` object's hash is
    Python code), and timestamps parse with ``datetime.fromisoformat``. Text ids sort as the
    database sorts the ids (fixed-width lowercase hex), which the merge of events relies on."""
    return Cast(field, output_field=TextField())


def _raw_rows(queryset: Any, *, times: tuple[int, ...], chunk_size: int) -> Any:
    """The queryset's rows as the database driver returns them, timestamps (at ``times``) made datetimes.

    Django's per-value converters (a ``UUID`` object built from every id, a regex per timestamp)
    cost more than the rest of the rollup together; the rollup reads ids and timestamps as text
    (``_text``), the same text for decisions and events, so they still match one another.
    """
    sql, params = queryset.query.sql_with_params()
    # chunked_cursor: a server-side cursor on PostgreSQL, so memory holds one chunk, not the result.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(chunk_size):
            for row in chunk:
                if times:
                    row = list(row)
                    for i in times:
                        row[i] = _moment(row[i])
                yield tuple(row)


def rollup_start(since: datetime | date | None, now: datetime) -> date | None:
    """The first day to re-roll: ``since``'s, or the lookback's, or the last day rolled if earlier."""
    if isinstance(since, datetime):
        return _day(since)
    if since is not None:
        return since
    window = timedelta(seconds=tracking_setting("ATTRIBUTION_WINDOW_SECONDS"))
    recent = _day(now - timedelta(seconds=setting("RESULTS_LOOKBACK_SECONDS")) - 2 * window)
    last: date | None = VariantDay.objects.aggregate(last=Max("day"))["last"]
    if last is not None:
        return min(recent, last)
    first = DecisionLog.objects.filter(is_bot=False).aggregate(first=Min("created_at"))["first"]
    return None if first is None else _day(first)


def results_rollup(since: datetime | date | None = None, *, now: datetime | None = None) -> RollupReport:
    """Re-roll every slot's ``VariantDay`` rows from ``since`` (default: what may have changed) to today."""
    began = timer.perf_counter()
    now = now or timezone.now()
    start = rollup_start(since, now)
    if start is None:
        return RollupReport(None, 0, 0, 0, timer.perf_counter() - began)
    start_at = datetime.combine(start, time.min, tzinfo=UTC)
    counts: dict[Key, DayCounts] = defaultdict(DayCounts)
    group_counts: dict[GroupKey, DayCounts] = defaultdict(DayCounts)
    goal_counts: dict[GoalKey, GoalCounts] = defaultdict(GoalCounts)
    window = timedelta(seconds=tracking_setting("ATTRIBUTION_WINDOW_SECONDS"))
    batch_size = int(setting("RESULTS_BATCH_DECISIONS"))
    recent = DecisionLog.objects.filter(created_at__gte=start_at, is_bot=False)
    has_history = DecisionLog.objects.filter(created_at__lt=start_at, is_bot=False).exists()

    read = 0
    batch: list[DecisionRow] = []
    rows = (
        recent.exclude(visitor_id=None)
        .order_by("visitor_id", "created_at")
        .annotate(group=GROUP)
        .values_list(
            _text("id"), _text("visitor_id"), "slot_key", "variant_key", _text("created_at"), "group", PriorVisits()
        )
    )
    outcomes = (
        Event.objects.filter(is_bot=False, type__in=OUTCOME_EVENTS, ts__gte=start_at - EVENT_SLACK)
        .order_by("visitor_id", "ts")
        .values_list(_text("visitor_id"), "type", _text("decision_id"), _text("ts"), "value", GOAL)
    )
    events = _EventsByVisitor(_raw_rows(outcomes, times=(3,), chunk_size=batch_size))
    roll = partial(
        _batch_roll,
        counts=counts,
        group_counts=group_counts,
        goal_counts=goal_counts,
        events=events,
        start_at=start_at,
        window=window,
        history=has_history,
    )
    for row in _raw_rows(rows, times=(4,), chunk_size=batch_size):
        if batch and row[1] != batch[-1][1]:
            if row[1] < batch[-1][1]:
                raise RollupOrderError(f"decisions: visitor {row[1]!r} came after {batch[-1][1]!r}")
            # A batch ends between visitors: attribution needs all of a visitor's decisions together.
            if len(batch) >= batch_size:
                roll(batch)
                read += len(batch)
                batch = []
        batch.append(row)
    if batch:
        roll(batch)
        read += len(batch)

    # Decisions anonymised by the retention purge (or made without a visitor id) are traffic only.
    anonymous = (
        recent.filter(visitor_id=None)
        .annotate(day=TruncDate("created_at", tzinfo=UTC), group=GROUP)
        .values("slot_key", "group", "variant_key", "day")
        .annotate(n=Count("id"))
    )
    for row in anonymous:
        counts[(row["slot_key"], row["group"], row["variant_key"], row["day"])].decisions += row["n"]
        read += row["n"]

    written, deleted = _counts_write(counts, group_counts, goal_counts, start, now)
    report = RollupReport(start, read, written, deleted, timer.perf_counter() - began)
    logger.info("Results rolled up from %s: %s", start, report.as_dict())
    return report


class RollupOrderError(RuntimeError):
    """The database did not return rows in the order the merge of decisions and events relies on."""


class _EventsByVisitor:
    """Outcome events in visitor order, handed out beside each batch of decisions (a merge join).

    One ordered read of the events instead of a query per batch: a ``visitor_id IN (...)`` of
    thousands of ids is a full scan per batch on PostgreSQL. Ids compare in Python as the
    database orders them (UUIDs by their bytes, SQLite's hex text by character); a row out of
    order raises rather than silently losing events.
    """

    def __init__(self, rows: Iterator[tuple[Any, ...]]) -> None:
        self._rows = rows
        self._next = next(rows, None)
        self._previous: Any = None

    def through(self, last_visitor: Any, wanted: set[Any]) -> list[dict[str, Any]]:
        """The events of ``wanted`` visitors, reading on until the visitor ``last_visitor``, included."""
        events = []
        while self._next is not None and self._next[0] <= last_visitor:
            visitor_id, kind, decision_id, ts, value, goal = self._next
            if self._previous is not None and visitor_id < self._previous:
                raise RollupOrderError(f"events: visitor {visitor_id!r} came after {self._previous!r}")
            self._previous = visitor_id
            if visitor_id in wanted:
                events.append(
                    {
                        "type": kind,
                        "decision_id": decision_id,
                        "visitor_id": visitor_id,
                        "ts": ts,
                        "value": value,
                        "goal": goal,
                    }
                )
            self._next = next(self._rows, None)
        return events


def _batch_roll(
    batch: list[DecisionRow],
    *,
    counts: dict[Key, DayCounts],
    group_counts: dict[GroupKey, DayCounts],
    goal_counts: dict[GoalKey, GoalCounts],
    events: _EventsByVisitor,
    start_at: datetime,
    window: timedelta,
    history: bool,
) -> None:
    """Add one batch of whole visitors (decisions sorted by visitor, then time) to ``counts``."""
    visitors = {row[1] for row in batch}
    outcomes = events.through(batch[-1][1], visitors)
    seen = {event["decision_id"] for event in outcomes if event["type"] == "impression"}
    decisions = [
        {"id": decision_id, "visitor_id": visitor_id, "slot_key": slot_key, "created_at": created_at}
        for decision_id, visitor_id, slot_key, _, created_at, _, _ in batch
    ]
    rewards = rewards_compute(decisions, outcomes, window_seconds=window.total_seconds())
    exposed_before = _exposed_before(list(visitors), start_at) if history else set()
    groups_before = {(visitor, slot_key, group) for visitor, slot_key, group, _ in exposed_before}

    for visitor_id, rows_of_visitor in groupby(batch, key=itemgetter(1)):
        by_variant: dict[tuple[str, str, str], list[DecisionRow]] = defaultdict(list)
        seen_on: set[Key] = set()
        for row in rows_of_visitor:
            decision_id, _, slot_key, variant_key, created_at, group, _ = row
            key = (slot_key, group, variant_key, _day(created_at))
            day = counts[key]
            reward = rewards[decision_id]
            day.decisions += 1
            day.clicks += reward.clicked
            day.conversions += reward.converted
            if reward.goals:
                for goal in reward.goals:
                    goal_counts[(*key, goal)].conversions += 1
            if decision_id in seen:
                day.impressions += 1
                seen_on.add(key)
            by_variant[(slot_key, group, variant_key)].append(row)
        for key in seen_on:
            counts[key].visitors_seen += 1
        by_group: dict[tuple[str, str], list[list[DecisionRow]]] = defaultdict(list)
        cohorts: dict[tuple[str, str, str], Cohort | None] = {}
        for (slot_key, group, variant_key), rows in by_variant.items():
            by_group[(slot_key, group)].append(rows)
            if (visitor_id, slot_key, group, variant_key) not in exposed_before:
                cohort = cohorts[(slot_key, group, variant_key)] = _cohort(rows, seen, rewards, window)
                if cohort is not None:
                    day_key = (slot_key, group, variant_key, _day(cohort.exposed_at))
                    cohort.add(counts[day_key])
                    if cohort.goals:
                        cohort.goals_add(goal_counts, day_key)
        for (slot_key, group), variants in by_group.items():
            if (visitor_id, slot_key, group) in groups_before:
                continue
            if len(variants) == 1:
                # One variant in the group (the usual case with sticky assignment): the same cohort.
                cohort = cohorts[(slot_key, group, variants[0][0][3])]
            else:
                cohort = _cohort(
                    sorted((row for rows in variants for row in rows), key=itemgetter(4)), seen, rewards, window
                )
            if cohort is not None:
                exposed_on = _day(cohort.exposed_at)
                cohort.add(group_counts[(slot_key, group, exposed_on)])
                if cohort.goals:
                    cohort.goals_add(goal_counts, (slot_key, group, ALL_VARIANTS, exposed_on))


@dataclass(slots=True)  # not frozen: built once per visitor, and a frozen dataclass's __init__ is slower
class Cohort:
    """One visitor's outcomes after their first exposure: what they add to a cohort row."""

    exposed_at: datetime
    clicked: bool
    converted: bool
    value: float
    dwell: float
    pre: float  # prior visits at the first exposure: measured before it, so no variant can move it
    goals: dict[str, float] | None  # goal key -> value, for the goals reached; None when none was

    def add(self, day: DayCounts) -> None:
        day.visitors += 1
        day.visitors_clicked += self.clicked
        day.visitors_converted += self.converted
        day.value_sum += self.value
        day.value_squares += self.value * self.value
        day.dwell_sum += self.dwell
        day.dwell_squares += self.dwell * self.dwell
        pre = self.pre
        if pre:  # most visitors are on their first visit: nothing to add
            day.pre_sum += pre
            day.pre_squares += pre * pre
            day.pre_cross_clicked += pre * self.clicked
            day.pre_cross_converted += pre * self.converted
            day.pre_cross_value += pre * self.value
            day.pre_cross_dwell += pre * self.dwell

    def goals_add(self, goal_counts: dict[GoalKey, GoalCounts], key: tuple[str, str, str, date]) -> None:
        """Add the goals this visitor reached to the ``GoalDay`` rows of their cohort row ``key``."""
        pre = self.pre
        for goal, value in (self.goals or {}).items():
            row = goal_counts[(*key, goal)]
            row.visitors_converted += 1
            row.value_sum += value
            row.value_squares += value * value
            row.pre_cross_converted += pre
            row.pre_cross_value += pre * value


def _cohort(
    rows: list[DecisionRow],
    seen: set[Any],
    rewards: dict[Any, Reward],
    window: timedelta,
) -> Cohort | None:
    """One visitor's first exposure among ``rows`` (in time order) and their outcomes within the window after it."""
    first = next((row for row in rows if row[0] in seen), None)
    if first is None:
        return None  # never seen: not exposed
    exposed_at = first[4]
    clicked = converted = False
    value = dwell = 0.0
    goals: dict[str, float] | None = None
    for decision_id, _, _, _, created_at, _, _ in rows:
        if exposed_at <= created_at <= exposed_at + window:
            reward = rewards[decision_id]
            clicked = clicked or reward.clicked
            converted = converted or reward.converted
            value += reward.value
            dwell += reward.visible_ms / 1000.0
            if reward.goals:
                goals = goals if goals is not None else {}
                for goal, goal_value in reward.goals.items():
                    goals[goal] = goals.get(goal, 0.0) + goal_value
    return Cohort(exposed_at, clicked, converted, value, dwell, first[6], goals)


def _exposed_before(visitors: list[Any], start_at: datetime) -> set[tuple[Any, str, str, str]]:
    """(visitor, slot, group, variant) of these visitors' exposures before ``start_at``: their cohorts are final."""
    impressed = Event.objects.filter(decision_id=OuterRef("id"), type="impression", is_bot=False)
    exposures = (
        DecisionLog.objects.filter(visitor_id__in=visitors, created_at__lt=start_at, is_bot=False)
        .filter(Exists(impressed))
        .annotate(group=GROUP)
        .values_list(_text("visitor_id"), "slot_key", "group", "variant_key")
        .distinct()
    )
    return set(_raw_rows(exposures, times=(), chunk_size=10_000))


def _counts_write(
    counts: dict[Key, DayCounts],
    group_counts: dict[GroupKey, DayCounts],
    goal_counts: dict[GoalKey, GoalCounts],
    start: date,
    now: datetime,
) -> tuple[int, int]:
    """Upsert the re-rolled days' rows and delete those left without data; returns (written, deleted)."""
    rows = [
        VariantDay(slot_key=slot_key, group=group, variant_key=variant_key, day=day, updated_at=now, **asdict(figures))
        for (slot_key, group, variant_key, day), figures in counts.items()
    ]
    group_rows = [
        GroupDay(
            slot_key=slot_key, group=group, day=day, updated_at=now, **{name: getattr(figures, name) for name in COHORT}
        )
        for (slot_key, group, day), figures in group_counts.items()
    ]
    goal_rows = [
        GoalDay(
            slot_key=slot_key,
            group=group,
            variant_key=variant_key,
            day=day,
            goal=goal,
            updated_at=now,
            **{name: getattr(figures, name) for name in GOAL_COUNTERS},
        )
        for (slot_key, group, variant_key, day, goal), figures in goal_counts.items()
    ]
    with transaction.atomic():
        # By key, not "everything not written now": a concurrent run writing the same days keeps its rows.
        stale = [
            pk
            for pk, *key in VariantDay.objects.filter(day__gte=start).values_list(
                "pk", "slot_key", "group", "variant_key", "day"
            )
            if tuple(key) not in counts
        ]
        deleted, _ = VariantDay.objects.filter(pk__in=stale).delete() if stale else (0, {})
        stale_groups = [
            pk
            for pk, *key in GroupDay.objects.filter(day__gte=start).values_list("pk", "slot_key", "group", "day")
            if tuple(key) not in group_counts
        ]
        if stale_groups:
            GroupDay.objects.filter(pk__in=stale_groups).delete()
        stale_goals = [
            pk
            for pk, *key in GoalDay.objects.filter(day__gte=start).values_list(
                "pk", "slot_key", "group", "variant_key", "day", "goal"
            )
            if tuple(key) not in goal_counts
        ]
        if stale_goals:
            GoalDay.objects.filter(pk__in=stale_goals).delete()
        VariantDay.objects.bulk_create(
            rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["slot_key", "group", "variant_key", "day"],
            update_fields=[*COUNTERS, "updated_at"],
        )
        GroupDay.objects.bulk_create(
            group_rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["slot_key", "group", "day"],
            update_fields=[*COHORT, "updated_at"],
        )
        GoalDay.objects.bulk_create(
            goal_rows,
            batch_size=500,
            update_conflicts=True,
            unique_fields=["slot_key", "group", "variant_key", "day", "goal"],
            update_fields=[*GOAL_COUNTERS, "updated_at"],
        )
    return len(rows), deleted
