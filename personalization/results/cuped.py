"""CUPED on live results: the rollup's covariate sums turned into adjusted comparisons, and said so.

The covariate is a visitor's prior visits when they first saw the slot (``visit_count - 1`` of the
context logged with that decision, capped: see ``rollup.PriorVisits``). Every slot logs it, and
it is measured before exposure, so no variant can move it; returning visitors click and convert
more, so it predicts the outcome and removes part of its noise (``engine.statistics.cuped``).
Real-time features (sessions in 7 days, conversions in 30 days) would predict better, but only
slots whose rules or model read them log them, and the covariate must mean the same in every arm
and every slot.

CUPED applies when it is on (``cuped=0`` turns it off) and every compared arm has at least two
visitors whose prior visits differ: with a constant covariate there is nothing to regress on.
The variants' own rates stay what was observed; the lift, its intervals, the p-values and the
verdict come from the adjusted means (the chance to beat too, for means: the engine's Beta
posteriors for rates stay on the raw counts). The body gains a ``cuped`` member saying whether it
applied, why not, and by how much it narrowed the comparisons. Under rules or a model the arms'
visitors differ by design: the adjustment then also removes the part of the difference their
prior visits explain, and the verdict still says the variants were not assigned at random.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from django.db.models import QuerySet, Sum

from ..engine.statistics import MetricKind, VariantSums
from ..engine.statistics.aggregates import PreExposureSums
from ..engine.statistics.cuped import cuped_adjust

COVARIATE = "prior visits"
MIN_VISITORS = 2  # per arm: below this no spread of the covariate can be measured

# Σxy column of each metric's outcome y, by the VariantDay/GroupDay field that holds Σy.
CROSS = {
    "visitors_clicked": "pre_cross_clicked",
    "visitors_converted": "pre_cross_converted",
    "value_sum": "pre_cross_value",
    "dwell_sum": "pre_cross_dwell",
}

OFF = "turned off for this request"
SINGLE = "a single variant: nothing to compare"
TOO_FEW = "not enough visitors in every variant yet"
CONSTANT = "prior visits do not vary within every variant yet (for example, first visits only)"


def pre_exposure_sums(days: QuerySet[Any], key: str, total: str) -> dict[str, PreExposureSums]:
    """Σx, Σx² and Σxy (y the outcome summed in ``total``) of the rollup rows ``days``, per value of ``key``."""
    rows = (
        days.values(key)
        .annotate(pre_total=Sum("pre_sum"), pre_squares=Sum("pre_squares"), pre_cross=Sum(CROSS[total]))
        .order_by(key)
    )
    return {
        row[key]: PreExposureSums(
            float(row["pre_total"] or 0), float(row["pre_squares"] or 0), float(row["pre_cross"] or 0)
        )
        for row in rows
    }


def _spread(arm: VariantSums, pre: PreExposureSums | None) -> bool:
    """Whether the covariate varies among the arm's visitors (beyond the rounding of its float sums)."""
    if pre is None or arm.visitors < MIN_VISITORS:
        return False
    centred = pre.total_squares - pre.total * pre.total / arm.visitors
    return centred > 1e-9 * max(pre.total_squares, 1.0)


def cuped_prepare(
    arms: Sequence[VariantSums], pre: Mapping[str, PreExposureSums], kind: MetricKind, *, enabled: bool = True
) -> tuple[list[VariantSums], dict[str, Any]]:
    """The arms to compare (with their covariate sums when CUPED applies) and the body's ``cuped`` member."""
    member: dict[str, Any] = {"covariate": COVARIATE, "applied": False, "variance_reduction": None, "reason": None}
    plain = [dataclasses.replace(arm, pre=None) for arm in arms]
    if not enabled:
        return plain, {**member, "reason": OFF}
    if len(arms) < 2:
        return plain, {**member, "reason": SINGLE}
    if any(arm.visitors < MIN_VISITORS for arm in arms):
        return plain, {**member, "reason": TOO_FEW}
    if not all(_spread(arm, pre.get(arm.key)) for arm in arms):
        return plain, {**member, "reason": CONSTANT}
    adjusted = [dataclasses.replace(arm, pre=pre[arm.key]) for arm in arms]
    adjustment = cuped_adjust(adjusted, kind)
    raw = sum(m.variance_of_mean for m in adjustment.raw)
    after = sum(m.variance_of_mean for m in adjustment.moments)
    # Over every arm: for two arms, 1 - Var(adjusted difference) / Var(raw difference).
    reduction = 1.0 - after / raw if raw > 0 else 0.0
    return adjusted, {**member, "applied": True, "variance_reduction": reduction}


def goal_pre_exposure_sums(
    days: QuerySet[Any], goal_days: QuerySet[Any], key: str, total: str
) -> dict[str, PreExposureSums]:
    """``pre_exposure_sums`` for a goal's outcome: Σx and Σx² of the cohort rows ``days``, Σxy of the goal's rows.

    A goal's ``GoalDay`` rows hold the same cohorts as ``days``, so the sums describe the same visitors.
    """
    crosses = dict(
        goal_days.values(key).annotate(pre_cross=Sum(CROSS[total])).order_by(key).values_list(key, "pre_cross")
    )
    rows = days.values(key).annotate(pre_total=Sum("pre_sum"), pre_squares=Sum("pre_squares")).order_by(key)
    return {
        row[key]: PreExposureSums(
            float(row["pre_total"] or 0), float(row["pre_squares"] or 0), float(crosses.get(row[key]) or 0)
        )
        for row in rows
    }
