"""What the results dashboard shows for one slot: the results contract, worded and formatted, with its time series.

``slot_dashboard`` reads the rollup through ``slot_results`` (the same figures as the results
API) and ``variant_days_get`` (the day-by-day rows for the charts and the CSV), then adds what
only a person needs: variant names, percentages, the sample-ratio status in words, the model
serving a model slot, and when the minimum sample is reached. The minimum sample is the
fixed-horizon sample per variant that detects a 10 % relative lift on control's current rate
(or mean) with 80 % power at 5 % (``engine.statistics.power``); its date comes from each
variant's visitors per day over the last complete week, so a slot that just started has no
date until it has a day of traffic.

An experiment chosen on the dashboard is read through ``experiment_results`` (its arms alone,
over its own window, against its own split and minimum sample, with a status per guardrail);
a slot with a holdout also shows its live uplift over doing nothing (``holdout_uplift``), and
the Models screen reads the same comparison over an active model's days (``model_live_uplift``).
A lift is always stated one way: a signed percent, with its always-valid 95 % interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.utils.formats import date_format
from django.utils.timezone import localtime

from content.models import Slot

from ..engine.statistics import SRM_THRESHOLD, MetricKind, VariantSums
from ..engine.statistics.power import LIFT, sample_size_means, sample_size_proportions
from ..models import Experiment, ModelVersion
from .bandits import BanditSegmentPanel, bandit_fields_sentence, bandit_panels
from .experiments import HOLDOUT, SERVED, experiment_get, experiment_results, holdout_uplift
from .selectors import (
    RANDOMIZED_STRATEGIES,
    SlotNotFoundError,
    metric_default,
    metric_get,
    metric_title,
    slot_results,
    window_days,
)
from .series import Series, VariantDayFigures, series_build, variant_days_get
from .wording import change_words
from .wording import lift_words as lift_ratio_words

METRIC_NAMES = {
    "click_rate": "Click rate",
    "conversion_rate": "Conversion rate",
    "value_per_visitor": "Value per visitor",
    "dwell_seconds": "Seconds visible per visitor",
}
RECENT_DAYS = 7  # the traffic the minimum sample's date is projected from


@dataclass(frozen=True, slots=True)
class VariantLine:
    """One row of the results table, formatted for reading."""

    key: str
    name: str
    is_control: bool
    visitors: int
    rate: str
    rate_ci95: str
    lift: str
    lift_ci95: str
    sequential_ci95: str
    chance_to_beat: str
    lift_sign: int  # 1 ahead, -1 behind, 0 not decided or control: the status tag's colour

    @property
    def visitors_text(self) -> str:
        return f"{self.visitors:,}"


@dataclass(frozen=True, slots=True)
class SampleRatioStatus:
    level: str  # "ok", "mismatch" or "unchecked"
    text: str


@dataclass(frozen=True, slots=True)
class ServingModel:
    version: int | None
    activated_at: datetime | None
    text: str


@dataclass(frozen=True, slots=True)
class SlotDashboard:
    slot: Slot
    metric: str
    metric_name: str
    kind: MetricKind
    days: int
    start: date
    end: date
    results: dict[str, Any]  # the results contract, as the API answers it
    lines: tuple[VariantLine, ...]
    names: dict[str, str]
    sample_ratio: SampleRatioStatus
    model: ServingModel | None
    verdict: str
    minimum_sample: str
    cuped: str  # what CUPED did to the comparisons, in words ("" when the body has no comparison)
    series: Series
    rows: tuple[VariantDayFigures, ...]
    experiment: ExperimentView | None = None  # the experiment shown, None for all of the slot's traffic
    holdout: HoldoutPanel | None = None
    bandit: tuple[BanditSegmentPanel, ...] = ()  # a bandit slot's allocation per segment, as serving reads it
    bandit_fields: str = ""  # what a bandit per context cell learns apart by, in words


@dataclass(frozen=True, slots=True)
class GuardrailLine:
    metric_name: str
    variant_name: str
    lift: str
    status: str  # "ok", "worse" or "not enough data"


@dataclass(frozen=True, slots=True)
class ExperimentView:
    """What the dashboard says about the experiment it shows, beside the usual table and charts."""

    key: str
    name: str
    status: str
    status_text: str
    share: str
    split: str
    minimum_sample: int
    guardrails: tuple[GuardrailLine, ...]


@dataclass(frozen=True, slots=True)
class HoldoutPanel:
    """The live uplift over doing nothing: visitors served by the slot's strategy against its holdout."""

    share: str
    lines: tuple[VariantLine, ...]  # the holdout first (the control), then "served"
    lift: str  # e.g. "+12.0% (95 %, look any time: +3.1% to +20.9%)"
    verdict: str


def slot_dashboard(
    slot_key: str,
    *,
    days: int,
    metric: str | None = None,
    today: date | None = None,
    every_figure: bool = False,
    experiment: str | None = None,
) -> SlotDashboard:
    """The dashboard of one slot over the last ``days`` days. Raises ``SlotNotFoundError`` or ``ValueError``.

    ``rows`` carry only what the charts need unless ``every_figure`` (the CSV export) asks for all.
    With ``experiment`` (a key of the slot's experiments; ``ExperimentNotFoundError`` otherwise)
    it shows that experiment alone: its arms over its own window, whatever ``days`` says, the
    sample ratio against its split, its minimum sample and guardrails, and a chart of its group.
    """
    slot = Slot.objects.filter(key=slot_key).prefetch_related("variants").first()
    if slot is None:
        raise SlotNotFoundError(slot_key)
    chosen_experiment = experiment_get(slot_key, experiment) if experiment else None
    if chosen_experiment is not None and len(chosen_experiment.variants) < 2:
        raise ValueError(f"experiment: {chosen_experiment.key!r} has fewer than two variants to compare")
    if chosen_experiment is not None:
        metric = metric or chosen_experiment.primary_metric
    metric = metric or metric_default(slot)
    chosen = metric_get(metric)
    total, squares = chosen.figures  # a goal's figures are read beside the cohort's (``goal_`` fields)
    group = None
    if chosen_experiment is not None:
        results = experiment_results(chosen_experiment, metric=metric, today=today)
        start, end = date.fromisoformat(results["window"]["start"]), date.fromisoformat(results["window"]["end"])
        days = (end - start).days + 1
        group = f"experiment:{chosen_experiment.key}"
    else:
        start, end = window_days(days, today=today)
        results = slot_results(slot_key, start, end, metric)
    charted = [name for name in ("visitors", "visitors_seen", chosen.total, chosen.squares) if name]
    if chosen.goal is not None:
        charted = ["visitors", "visitors_seen"]
    rows = tuple(
        variant_days_get(slot_key, start, end, None if every_figure else charted, group=group, goal=chosen.goal)
    )
    names = {v.key: v.name for v in slot.variants.all()}
    keys = [v["key"] for v in results["variants"]]
    series = series_build(rows, keys=keys, start=start, end=end, kind=chosen.kind, total=total, squares=squares)
    names.update({key: key for key in (v.key for v in series.variants) if key not in names})
    if chosen_experiment is not None:
        minimum = experiment_sample_words(chosen_experiment.minimum_sample, results["variants"])
    else:
        minimum = minimum_sample_words(
            results["control"],
            _window_sums(rows, total, squares),
            recent_per_day(rows, end),
            kind=chosen.kind,
            names=names,
        )
    srm = results["srm_p_value"]
    return SlotDashboard(
        slot=slot,
        metric=metric,
        metric_name=metric_title(metric, chosen),
        kind=chosen.kind,
        days=days,
        start=start,
        end=end,
        results=results,
        lines=tuple(_lines(results, names, chosen.kind)),
        names=names,
        sample_ratio=sample_ratio_status(srm, "experiment" if chosen_experiment else slot.strategy),
        model=serving_model(slot) if slot.strategy == "model" else None,
        verdict=results["verdict"],
        minimum_sample=minimum,
        cuped=cuped_words(results.get("cuped")),
        series=series,
        rows=rows,
        experiment=_experiment_view(chosen_experiment, results, names) if chosen_experiment else None,
        holdout=(
            holdout_panel(slot, start, end, metric, chosen.kind)
            if chosen_experiment is None and slot.holdout_share > 0
            else None
        ),
        bandit=bandit_panels(slot) if slot.strategy == "bandit" else (),
        bandit_fields=bandit_fields_sentence(slot) if slot.strategy == "bandit" else "",
    )


def slot_experiments(slot: Slot) -> list[Experiment]:
    """The slot's experiments for the dashboard's picker: the latest first, drafts included (they have no data)."""
    return list(Experiment.objects.filter(slot=slot).order_by("-starts_at", "name"))


def experiment_status_text(experiment: Experiment) -> str:
    status = experiment.status
    if status == "running":
        return f"Running until {_day(experiment.stops_at)}."
    if status == "scheduled":
        return f"Scheduled: starts on {_day(experiment.starts_at)}."
    if status == "ended":
        return f"Ended on {_day(experiment.stops_at)}."
    if status == "stopped":
        return "Stopped early (unpublished)."
    return "Draft: not published, so no visitor is in it yet."


def experiment_sample_words(minimum: int, variants: Sequence[Mapping[str, Any]]) -> str:
    """Where the smallest arm stands against the experiment's own minimum sample."""
    smallest = min((v["visitors"] for v in variants), default=0)
    head = f"The minimum sample ({minimum:,} visitors per variant, set on the experiment)"
    if smallest >= minimum:
        return f"{head} is reached."
    return f"{head} is not reached yet: the smallest arm has {smallest:,}."


def guardrail_status(worse: bool, lift: float | None, enough: bool) -> str:
    """ok, worse, or not enough data.

    "worse" is the always-valid test's finding, true at any look; "ok" says only that no harm is
    shown, which means something once the arms reach the minimum sample, so not before.
    """
    if worse:
        return "worse"
    if lift is None or not enough:
        return "not enough data"
    return "ok"


def holdout_panel(slot: Slot, start: date, end: date, metric: str, kind: MetricKind) -> HoldoutPanel:
    results = holdout_uplift(slot.key, start, end, metric)
    names = {HOLDOUT: "Holdout (the default only)", SERVED: "Personalized (the slot's strategy)"}
    comparison = results["comparisons"][0] if results["comparisons"] else None
    return HoldoutPanel(
        share=f"{slot.holdout_share:.0%}",
        lines=tuple(_lines(results, names, kind)),
        lift=lift_words(comparison),
        verdict=results["verdict"],
    )


def lift_words(comparison: Mapping[str, Any] | None) -> str:
    """One way to state a lift everywhere: the percent, and its always-valid 95 % interval when there is one."""
    lift = comparison["lift"] if comparison else None
    if lift is None:
        return "not measured yet"
    interval = _interval(comparison["sequential_ci95"] if comparison else None, _signed)
    return f"{_signed(lift)} (95 %, look any time: {interval})" if interval else _signed(lift)


@dataclass(frozen=True, slots=True)
class LiveUplift:
    """The model's measured live uplift over its slot's holdout, in the words the dashboard uses."""

    measured: bool  # False: the slot has no holdout, so nothing is measured
    lift: str
    text: str


def model_live_uplift(slot: Slot | None, version: ModelVersion, *, today: date | None = None) -> LiveUplift:
    """The holdout comparison over the days the version has served (from its activation to today).

    Rollups are daily: the activation day also holds the previous version's visitors of that day.
    """
    if slot is None or slot.holdout_share <= 0:
        return LiveUplift(False, "", "No holdout: set a holdout share on the slot to measure it live.")
    end = today or datetime.now(UTC).date()
    since = version.activated_at or version.created_at
    start = min(since.astimezone(UTC).date(), end)
    metric = metric_default(slot)
    results = holdout_uplift(slot.key, start, end, metric)
    comparison = results["comparisons"][0] if results["comparisons"] else None
    visitors = {v["key"]: v["visitors"] for v in results["variants"]}
    lift = lift_words(comparison)
    text = (
        f"Measured live since {start:%Y-%m-%d} on {METRIC_NAMES.get(metric, metric).lower()}:"
        f" {visitors.get(SERVED, 0):,} visitors served by the model against {visitors.get(HOLDOUT, 0):,}"
        f" held out on the default ({slot.holdout_share:.0%})."
    )
    return LiveUplift(True, lift, text)


def offline_lift_words(ratio: float | None) -> str:
    """The offline estimate stated as the dashboard states a lift: a signed percent."""
    return lift_ratio_words(ratio)


def _experiment_view(experiment: Experiment, results: Mapping[str, Any], names: Mapping[str, str]) -> ExperimentView:
    described = results["experiment"]
    visitors = {v["key"]: v["visitors"] for v in results["variants"]}
    control = results["control"]
    minimum = experiment.minimum_sample
    guardrails = tuple(
        GuardrailLine(
            metric_name=metric_title(g["metric"]),
            variant_name=names.get(g["variant"], g["variant"]),
            lift=_signed(g["lift"]),
            status=guardrail_status(
                bool(g["worse"]),
                g["lift"],
                min(visitors.get(g["variant"], 0), visitors.get(control, 0)) >= minimum,
            ),
        )
        for g in described["guardrails"]
    )
    split = ", ".join(f"{names.get(k, k)} {share:.0%}" for k, share in described["split"].items())
    return ExperimentView(
        key=experiment.key,
        name=experiment.name,
        status=experiment.status,
        status_text=experiment_status_text(experiment),
        share=f"{experiment.share:.0%}",
        split=split,
        minimum_sample=minimum,
        guardrails=guardrails,
    )


def _day(moment: datetime) -> str:
    return str(date_format(localtime(moment), "DATE_FORMAT"))


def sample_ratio_status(p_value: float | None, strategy: str) -> SampleRatioStatus:
    if p_value is None and strategy == "experiment":
        return SampleRatioStatus("unchecked", "Not checked yet: the experiment has too few visitors.")
    if p_value is None and strategy in RANDOMIZED_STRATEGIES:
        return SampleRatioStatus(
            "unchecked", "Not checked: a variant shown in this window is paused or has no weight now."
        )
    if p_value is None:
        return SampleRatioStatus(
            "unchecked",
            f"Not checked: the {strategy} strategy chooses variants rather than splitting traffic at random.",
        )
    if p_value < SRM_THRESHOLD:
        return SampleRatioStatus(
            "mismatch",
            f"Sample-ratio mismatch (p = {p_value:.2g}): visitors are not split as configured;"
            " do not trust these results until the cause is found.",
        )
    return SampleRatioStatus("ok", f"Visitors are split as configured (p = {p_value:.2g}).")


def serving_model(slot: Slot) -> ServingModel:
    version = (
        ModelVersion.objects.filter(slot_key=slot.key, status=ModelVersion.Status.ACTIVE)
        .only("pk", "activated_at")
        .first()
    )
    if version is None:
        return ServingModel(None, None, "No model is active: the slot explores uniformly until one is trained.")
    return ServingModel(version.pk, version.activated_at, f"Model #{version.pk} serves this slot.")


def recent_per_day(rows: Sequence[VariantDayFigures], end: date) -> dict[str, float]:
    """Each variant's new visitors per day over the last complete week (today's partial day if none).

    Days before the slot's first visitor do not count, so a slot started three days ago is
    projected from three days, not diluted over seven.
    """
    active = [row.day for row in rows if row.visitors]
    if not active:
        return {}
    begin = max(end - timedelta(days=RECENT_DAYS), min(active))
    span = (end - begin).days
    week: dict[str, int] = {}
    today: dict[str, int] = {}
    for row in rows:
        if begin <= row.day < end:
            week[row.variant] = week.get(row.variant, 0) + row.visitors
        elif row.day == end:
            today[row.variant] = today.get(row.variant, 0) + row.visitors
    if span > 0 and any(week.values()):
        return {key: n / span for key, n in week.items()}
    return {key: float(n) for key, n in today.items()}


def minimum_sample_words(
    control: str | None,
    sums: Mapping[str, VariantSums],
    per_day: Mapping[str, float],
    *,
    kind: MetricKind,
    names: Mapping[str, str],
    lift: float = LIFT,
) -> str:
    """E.g. "The minimum sample (31,218 visitors per variant to detect a 10 % lift) is reached in about 3 days"."""
    if control is None or len(sums) < 2 or control not in sums:
        return ""
    arm = sums[control]
    name = names.get(control, control)
    needed = _sample_size(arm, kind, lift)
    if needed is None:
        what = "conversions" if kind == "rate" else "varied values"
        return f"The minimum sample cannot be estimated until {name} (control) has {what}."
    head = f"The minimum sample ({needed:,} visitors per variant to detect a {lift * 100:.0f} % lift)"
    remaining = {key: needed - s.visitors for key, s in sums.items() if s.visitors < needed}
    if not remaining:
        return f"{head} is reached."
    if any(per_day.get(key, 0.0) <= 0 for key in remaining):
        return f"{head} is not reached, and not every variant has had visitors lately."
    days = max(math.ceil(left / per_day[key]) for key, left in remaining.items())
    return f"{head} is reached in about {days:,} day{'s' if days != 1 else ''} at the last week's traffic."


def _sample_size(arm: VariantSums, kind: MetricKind, lift: float) -> int | None:
    if arm.visitors < 2:
        return None
    if kind == "rate":
        p = arm.total / arm.visitors
        return sample_size_proportions(p, lift) if 0 < p and p * (1 + lift) < 1 else None
    sd = math.sqrt(arm.variance("mean"))
    return sample_size_means(arm.mean * lift, sd) if arm.mean != 0 and sd > 0 else None


def _window_sums(rows: Sequence[VariantDayFigures], total: str, squares: str | None) -> dict[str, VariantSums]:
    sums: dict[str, list] = {}
    for row in rows:
        acc = sums.setdefault(row.variant, [0, 0.0, 0.0])
        acc[0] += row.visitors
        acc[1] += getattr(row, total)
        acc[2] += getattr(row, squares) if squares else 0.0
    return {key: VariantSums(key, n, t, s if squares else None) for key, (n, t, s) in sums.items()}


def _lines(results: dict[str, Any], names: Mapping[str, str], kind: MetricKind) -> list[VariantLine]:
    comparisons = {c["variant"]: c for c in results["comparisons"]}
    lines = []
    for variant in results["variants"]:
        key = variant["key"]
        comparison = comparisons.get(key)
        lift = comparison["lift"] if comparison else None
        sequential = comparison["sequential_ci95"] if comparison else None
        sign = 0
        if lift is not None and sequential is not None and (sequential[0] > 0 or sequential[1] < 0):
            sign = 1 if lift > 0 else -1
        chance = comparison["chance_to_beat"] if comparison else None
        lines.append(
            VariantLine(
                key=key,
                name=names.get(key, key),
                is_control=key == results["control"],
                visitors=variant["visitors"],
                rate=_figure(variant["rate"] if variant["visitors"] else None, kind),
                rate_ci95=_interval(variant["ci95"], lambda v: _figure(v, kind)),
                lift=_signed(lift),
                lift_ci95=_interval(comparison["lift_ci95"] if comparison else None, _signed),
                sequential_ci95=_interval(sequential, _signed),
                chance_to_beat=_chance(chance),
                lift_sign=sign,
            )
        )
    return lines


def _chance(value: float | None) -> str:
    # As the verdict words it: a posterior probability is never quite certain.
    if value is None:
        return "—"
    if value > 0.99:
        return "over 99%"
    if value < 0.01:
        return "under 1%"
    return f"{value:.0%}"


def _figure(value: float | None, kind: MetricKind) -> str:
    if value is None:
        return "—"
    return f"{value:.2%}" if kind == "rate" else f"{value:,.2f}"


def _signed(value: float | None) -> str:
    return change_words(value)  # the one lift formatter (results.wording), shared with the terminal


def _interval(pair: Sequence[float | None] | None, fmt: Callable[[float], str]) -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return ""
    return f"{fmt(pair[0])} to {fmt(pair[1])}"


def cuped_words(cuped: dict[str, Any] | None) -> str:
    """The ``cuped`` member of the results, as one sentence under the verdict."""
    if not cuped:
        return ""
    if cuped.get("applied"):
        reduction = cuped.get("variance_reduction") or 0.0
        return (
            f"Adjusted for {cuped['covariate']} (CUPED): {max(reduction, 0.0):.0%} less noise in the comparisons;"
            " each variant's own rate is as observed."
        )
    reason = cuped.get("reason")
    return f"Not adjusted for {cuped['covariate']} (CUPED): {reason}." if reason else ""
