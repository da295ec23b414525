"""Do the guardrails keep their promises? Simulated slots, checked every hour, with a known truth.

Each simulated slot is a 50/50 split of ``--per-hour`` visitors an hour between control and one
variant; after every hour the guardrail's own test (``engine.statistics.guardrails.harm_test``,
at the α the job gives a slot with one guardrail metric: ``alpha_split``) reads the cumulative
sums, as the job reads the rollups, and the slot is paused at the first look that finds harm.

1. A/A: both arms click at 5 %, ``--slots`` slots, ``--hours`` hourly looks each. The share of
   slots paused must be at most α. Beside it, the naive fixed-horizon one-sided z-test at the
   same α, read at every look: what checking every hour does to a test that is not always valid.
2. Harm: the variant's click rate is half the control's. The detection point (visitors in both
   arms, one impression each, at the look that pauses) over the slots: its median and 90th
   percentile, against the point where a single look has 50 % and 90 % power
   (``detection_point``), which bounds them from above.

    .venv/bin/python bench/guardrails.py [--slots 1000] [--hours 336] [--per-hour 200] [--seed 2026]

Prints a markdown table (the lead copies it into bench/RESULTS.md).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from personalization.engine.statistics import VariantSums  # noqa: E402
from personalization.engine.statistics.guardrails import alpha_split, detection_point, harm_test  # noqa: E402
from personalization.engine.statistics.sequential import SEQUENTIAL_TUNING_DEFAULT  # noqa: E402


def monitor(
    p_control: float,
    p_variant: float,
    *,
    slots: int,
    hours: int,
    per_hour: int,
    alpha: float,
    seed: int,
    tuning: float = SEQUENTIAL_TUNING_DEFAULT,
) -> tuple[list[int | None], list[int | None]]:
    """Per slot, the visitors at the first hourly look that pauses (None: never), for the guardrail
    test and for the naive z-test read at every look. ``alpha`` is the slot's; the test gets the
    job's share of it for one metric."""
    rng = np.random.default_rng(seed)
    metric_alpha, _ = alpha_split(alpha, 1)
    z = float(stats.norm.isf(metric_alpha))
    guarded: list[int | None] = []
    naive: list[int | None] = []
    for _ in range(slots):
        to_control = rng.binomial(per_hour, 0.5, size=hours)
        to_variant = per_hour - to_control
        n_c = np.cumsum(to_control)
        n_v = np.cumsum(to_variant)
        x_c = np.cumsum(rng.binomial(to_control, p_control))
        x_v = np.cumsum(rng.binomial(to_variant, p_variant))
        first = None
        for h in range(hours):
            test = harm_test(
                VariantSums("control", int(n_c[h]), float(x_c[h])),
                VariantSums("variant", int(n_v[h]), float(x_v[h])),
                kind="rate",
                alpha=metric_alpha,
                tuning=tuning,
            )
            if test.harmful:
                first = int(n_c[h] + n_v[h])
                break
        guarded.append(first)
        # The naive test: a one-sided z at every look, pooled variance, from 30 visitors per arm.
        pc, pv = x_c / np.maximum(n_c, 1), x_v / np.maximum(n_v, 1)
        pooled = (x_c + x_v) / (n_c + n_v)
        se = np.sqrt(np.maximum(pooled * (1 - pooled), 1e-12) * (1 / np.maximum(n_c, 1) + 1 / np.maximum(n_v, 1)))
        crossed = np.nonzero(((pv - pc) / se < -z) & (n_c >= 30) & (n_v >= 30))[0]
        naive.append(int(n_c[crossed[0]] + n_v[crossed[0]]) if crossed.size else None)
    return guarded, naive


def look_after(visitors: int, per_hour: int) -> int:
    """The visitors at the first hourly look that has at least ``visitors``."""
    return math.ceil(visitors / per_hour) * per_hour


def share(points: list[int | None]) -> float:
    return sum(p is not None for p in points) / len(points)


def quantile(points: list[int | None], q: float) -> float:
    found = sorted(p for p in points if p is not None)
    if len(found) < len(points) * q:
        return math.inf  # fewer than q of the slots were paused within the horizon
    return float(np.quantile(np.array(found + [math.inf] * (len(points) - len(found))), q, method="inverted_cdf"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=1000)
    parser.add_argument("--hours", type=int, default=336)
    parser.add_argument("--per-hour", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    began = time.perf_counter()
    horizon = args.hours * args.per_hour

    print(
        f"### Guardrails: A/A false pauses, {args.slots} slots checked hourly ({args.hours} looks, {horizon:,} visitors)"
    )
    print()
    print(
        "| click rate (both arms) | slot α | test α (1 metric) | paused by the guardrail | naive z-test read hourly |"
    )
    print("|---|---|---|---|---|")
    for p, alpha in ((0.05, 0.05), (0.02, 0.05), (0.05, 0.01)):
        guarded, naive = monitor(
            p, p, slots=args.slots, hours=args.hours, per_hour=args.per_hour, alpha=alpha, seed=args.seed
        )
        metric_alpha, _ = alpha_split(alpha, 1)
        print(f"| {p:.0%} | {alpha} | {metric_alpha:.3g} | {share(guarded):.1%} | {share(naive):.1%} |")
    print()
    print(
        f"### Guardrails: a variant at half the control's click rate, {args.slots} slots, {args.per_hour} visitors/hour"
    )
    print()
    print(
        "| control → variant | slot α | paused within the horizon | bound on the median (50 % power, next look)"
        " | simulated median | bound on the 90th percentile (90 % power, next look) | simulated 90th percentile |"
    )
    print("|---|---|---|---|---|---|---|")
    for p_control in (0.02, 0.05, 0.10):
        p_variant = p_control / 2
        alpha = 0.05
        metric_alpha, _ = alpha_split(alpha, 1)
        guarded, _ = monitor(
            p_control,
            p_variant,
            slots=args.slots,
            hours=args.hours,
            per_hour=args.per_hour,
            alpha=alpha,
            seed=args.seed,
        )
        # The job looks once an hour: the bound is the first look at or after the point.
        median_expected = look_after(
            detection_point(p_control, p_variant, alpha=metric_alpha, power=0.5), args.per_hour
        )
        p90_expected = look_after(detection_point(p_control, p_variant, alpha=metric_alpha, power=0.9), args.per_hour)
        print(
            f"| {p_control:.0%} → {p_variant:.1%} | {alpha} | {share(guarded):.1%} | {median_expected:,}"
            f" | {quantile(guarded, 0.5):,.0f} | {p90_expected:,} | {quantile(guarded, 0.9):,.0f} |"
        )
    print()
    print(
        f"Visitors in both arms (one impression each) at the look that paused; seed {args.seed};"
        f" {time.perf_counter() - began:.0f} s. Command: .venv/bin/python bench/guardrails.py"
        f" --slots {args.slots} --hours {args.hours} --per-hour {args.per_hour} --seed {args.seed}"
    )


if __name__ == "__main__":
    main()
