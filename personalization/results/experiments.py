"""Results of an experiment and of a slot's holdout, in the results contract, from the rollups.

``experiment_results`` reads only the experiment's own rows (group ``experiment:<key>``) over
its start to today (or its stop), compares its arms with the first (the control) and checks the
sample ratio against the configured weights: assignment is a hash, so a mismatch means visitors
are lost or miscounted somewhere. The verdict also says where the experiment stands against its
minimum sample and maximum duration, and names a guardrail metric a variant makes worse.

``holdout_uplift`` compares the visitors served by the slot's strategy (all its variants, each
visitor once: ``GroupDay``) with those held out on the default, with the same statistics.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, date, datetime
from typing import Any

from django.db.models import Sum

from personalization.engine.statistics import VariantSums, experiment_compare, verdict_words
from personalization.engine.statistics.results import ExperimentResults

from ..models import Experiment, GoalDay, GroupDay, VariantDay
from .cuped import cuped_prepare
from .selectors import (
    Metric,
    SlotNotFoundError,
    _finite,
    _goal_days,
    _variant_sums,
    metric_get,
    metric_pre_sums,
    metric_title,
)
from .wording import change_words

ALPHA = 0.05
HOLDOUT = "holdout"
SERVED = "served"
# The variant editor's names for the parameters a factor varies, so the words read as the editor's screen does.
FACTOR_LABELS = {"cta_label": "Call-to-action label", "cta_url": "Call-to-action link", "position": "Layout"}


class ExperimentNotFoundError(LookupError):
    """No experiment has this key (on this slot)."""


def experiment_get(slot_key: str, key: str) -> Experiment:
    """The slot's experiment with this key (published or not: a stopped one still has results)."""
    experiment: Experiment | None = Experiment.objects.select_related("slot").filter(key=key).first()
    if experiment is None or experiment.slot.key != slot_key:
        raise ExperimentNotFoundError(f"No experiment has the key {key!r} on the slot {slot_key!r}.")
    return experiment


def slot_experiment_results(
    slot_key: str, experiment_key: str, *, metric: str | None = None, cuped: bool = True
) -> dict[str, Any]:
    """What ``GET /api/v1/slots/<key>/results/?experiment=<key>`` and ``manage.py results --experiment`` answer."""
    from content.models import Slot

    if not Slot.objects.filter(key=slot_key).exists():
        raise SlotNotFoundError(slot_key)
    return experiment_results(experiment_get(slot_key, experiment_key), metric=metric, cuped=cuped)


def experiment_window(experiment: Experiment, today: date | None = None) -> tuple[date, date]:
    """From its start to today, or to its stop if it stopped earlier."""
    today = today or datetime.now(UTC).date()
    start = experiment.starts_at.astimezone(UTC).date()
    end = min(today, experiment.stops_at.astimezone(UTC).date())
    return start, max(start, end)


def experiment_results(
    experiment: Experiment, *, metric: str | None = None, today: date | None = None, cuped: bool = True
) -> dict[str, Any]:
    """The results contract for the experiment's arms, with an ``experiment`` member describing it.

    ``cuped``: adjust the comparisons (guardrails included) for the visitors' prior visits where
    the data allows; the ``cuped`` member says whether the primary metric's were.
    """
    metric = metric or experiment.primary_metric
    chosen = metric_get(metric)
    start, end = experiment_window(experiment, today)
    group = f"experiment:{experiment.key}"
    arms = list(experiment.variants)
    weights = [float(w) for w in experiment.weights] if experiment.weights else [1.0] * len(arms)
    split = dict(zip(arms, weights, strict=True))
    names = {v.key: v.name for v in experiment.slot.variants.all()}
    days = (end - start).days + 1

    results, cuped_member = _compare(
        experiment.slot.key, start, end, chosen, group, arms, split, names, experiment, days, cuped=cuped
    )
    verdict = results.verdict + _sample_words(experiment, results, days)
    guardrails = []
    for guardrail in experiment.guardrail_metrics:
        if guardrail == metric:
            continue
        try:
            watched = metric_get(guardrail)
        except ValueError:
            continue  # a goal deleted since the experiment was saved: nothing to watch
        checked, _ = _compare(experiment.slot.key, start, end, watched, group, arms, split, names, cuped=cuped)
        for comparison in checked.comparisons:
            worse = (
                comparison.sequential_p_value is not None
                and comparison.sequential_p_value < ALPHA
                and comparison.lift is not None
                and comparison.lift < 0
            )
            guardrails.append(
                {"metric": guardrail, "variant": comparison.variant, "lift": comparison.lift, "worse": worse}
            )
            if worse:
                verdict += (
                    f" Guardrail {_guardrail_name(guardrail, watched)}: {names.get(comparison.variant, comparison.variant)}"
                    f" makes it worse ({change_words(comparison.lift)})."
                )
    head = {
        "slot": experiment.slot.key,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "metric": metric,
    }
    described = {
        "key": experiment.key,
        "name": experiment.name,
        "status": experiment.status,
        "share": experiment.share,
        "split": {arm: weight / sum(weights) for arm, weight in split.items()},
        "minimum_sample": experiment.minimum_sample,
        "starts_at": experiment.starts_at.isoformat(),
        "stops_at": experiment.stops_at.isoformat(),
        "guardrails": guardrails,
    }
    body = {**head, **results.as_contract(), "verdict": verdict, "experiment": described, "cuped": cuped_member}
    factorial = _factorial(experiment, start, end, metric, group)
    if factorial is not None:
        body["factorial"] = factorial
        body["verdict"] = f"{verdict} {factorial['verdict']}"
    finite: dict[str, Any] = _finite(body)
    return finite


def _factorial(experiment: Experiment, start: date, end: date, metric: str, group: str) -> dict[str, Any] | None:
    """A multivariate experiment's main effects and interactions, over its own visitors; None for an A/B/n one.

    Reads what was generated last (the combinations its arms are), not factors declared since.
    """
    from personalization.multivariate import design_from_json

    from .factorial import factorial_results

    design = design_from_json(experiment.factors)
    if design is None or not design.combinations:
        return None
    arms = set(experiment.variants)
    levels = {key: levels for key, levels in design.combinations if key in arms}
    if not levels:
        return None
    return factorial_results(
        experiment.slot.key,
        start,
        end,
        metric,
        levels,
        design.generated_mapping(),
        labels=FACTOR_LABELS,
        tuning=float(experiment.minimum_sample * len(levels)),
        group=group,
    )


def _compare(
    slot_key: str,
    start: date,
    end: date,
    metric: Metric,
    group: str,
    arms: list[str],
    split: dict[str, float],
    names: dict[str, str],
    experiment: Experiment | None = None,
    days: int = 1,
    *,
    cuped: bool = True,
) -> tuple[ExperimentResults, dict[str, Any]]:
    sums = _variant_sums(slot_key, start, end, metric, group=group)
    empty = 0.0 if metric.kind == "mean" else None
    arm_sums = [sums.get(arm, VariantSums(arm, 0, 0.0, empty)) for arm in arms]
    smallest = min(arm.visitors for arm in arm_sums)
    rows = VariantDay.objects.filter(slot_key=slot_key, group=group, day__gte=start, day__lte=end)
    arm_sums, cuped_member = cuped_prepare(
        arm_sums,
        metric_pre_sums(metric, rows, _goal_days(slot_key, start, end, metric, group)) if cuped else {},
        metric.kind,
        enabled=cuped,
    )
    results = experiment_compare(
        arm_sums[0],
        arm_sums[1:],
        kind=metric.kind,
        expected_split=split,  # assignment is random by hash: the configured weights are the truth
        names=names,
        minimum_sample=experiment.minimum_sample if experiment else None,
        visitors_per_day=smallest / days if experiment and smallest else None,
        cuped=cuped_member["applied"],
    )
    return results, cuped_member


def _guardrail_name(name: str, metric: Metric) -> str:
    """ "click rate", or a goal's title ("Goal: Signed up"), as the verdict names a guardrail."""
    return metric_title(name, metric) if metric.goal is not None else name.replace("_", " ")


def _sample_words(experiment: Experiment, results: ExperimentResults, days: int) -> str:
    """Where the experiment stands against its minimum sample and its maximum duration."""
    smallest = min(v.visitors for v in results.variants)
    if smallest >= experiment.minimum_sample:
        return ""
    status = experiment.status
    if status in ("ended", "stopped"):
        return (
            f" It {status} before reaching its minimum sample ({smallest:,} of {experiment.minimum_sample:,} visitors"
            " per variant): treat these results as inconclusive."
        )
    words = " The minimum sample is not reached yet: results are early."
    if smallest and status == "running":
        per_day = smallest / days
        needed = math.ceil((experiment.minimum_sample - smallest) / per_day)
        left = (experiment.stops_at - datetime.now(UTC)).total_seconds() / 86400
        if needed > left:
            words += (
                f" At this rate it needs about {needed} more days, but it stops in {max(0, math.floor(left))}"
                " (its stop or maximum duration): raise its traffic share or extend it."
            )
    return words


def holdout_uplift(slot_key: str, start: date, end: date, metric: str, *, cuped: bool = True) -> dict[str, Any]:
    """Visitors served by the slot's strategy (every variant) against its holdout, in the results contract.

    Control is the holdout ("holdout"), the one variant compared is "served"; the lift is what
    personalization adds over always showing the default. No sample-ratio check: the served
    share depends on the experiments that ran beside the holdout. ``cuped`` as in ``slot_results``.
    """
    from content.models import Slot

    if not Slot.objects.filter(key=slot_key).exists():
        raise SlotNotFoundError(slot_key)
    chosen = metric_get(metric)
    if start > end:
        raise ValueError(f"start: {start} is after end {end}")
    fields = {"visitors": Sum("visitors"), "total": Sum(chosen.total)}
    if chosen.squares:
        fields["squares"] = Sum(chosen.squares)
    days = GroupDay.objects.filter(slot_key=slot_key, day__gte=start, day__lte=end, group__in=["", HOLDOUT])
    goal_days = None
    if chosen.goal is None:
        rows = list(days.values("group").annotate(**fields))
    else:
        # A goal's group-wide cohorts are its GoalDay rows without a variant (each visitor once, as GroupDay).
        goal_days = GoalDay.objects.filter(
            slot_key=slot_key, goal=chosen.goal, variant_key="", day__gte=start, day__lte=end, group__in=["", HOLDOUT]
        )
        goals = {
            row["group"]: row
            for row in goal_days.values("group").annotate(
                **{name: value for name, value in fields.items() if name != "visitors"}
            )
        }
        rows = [
            {**goals.get(row["group"], {}), **row} for row in days.values("group").annotate(visitors=Sum("visitors"))
        ]
    sums = {
        (HOLDOUT if row["group"] == HOLDOUT else SERVED): VariantSums(
            HOLDOUT if row["group"] == HOLDOUT else SERVED,
            int(row["visitors"] or 0),
            float(row.get("total") or 0),
            float(row.get("squares") or 0) if chosen.squares else None,
        )
        for row in rows
    }
    empty = 0.0 if chosen.kind == "mean" else None
    holdout = sums.get(HOLDOUT, VariantSums(HOLDOUT, 0, 0.0, empty))
    served = sums.get(SERVED, VariantSums(SERVED, 0, 0.0, empty))
    pre = {
        (HOLDOUT if group == HOLDOUT else SERVED): sums_of_group
        for group, sums_of_group in (metric_pre_sums(chosen, days, goal_days, "group") if cuped else {}).items()
    }
    (holdout, served), cuped_member = cuped_prepare([holdout, served], pre, chosen.kind, enabled=cuped)
    names = {HOLDOUT: "the holdout (default only)", SERVED: "Personalized"}
    results = experiment_compare(holdout, [served], kind=chosen.kind, names=names, cuped=cuped_member["applied"])
    # Equal shares are not the expectation (the holdout is a small share): no check, and words without one.
    results = dataclasses.replace(results, srm=None)
    verdict = verdict_words(results, names=names)
    body = {
        "slot": slot_key,
        "window": {"start": start.isoformat(), "end": end.isoformat()},
        "metric": metric,
        **results.as_contract(),
        "verdict": verdict,
        "cuped": cuped_member,
    }
    finite: dict[str, Any] = _finite(body)
    return finite
