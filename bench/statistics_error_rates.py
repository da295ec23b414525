"""Do Tailor's experiment statistics keep their promises? Simulations with a known truth.

Every figure below runs the engine's own functions (``personalization.engine.statistics``)
on per-arm sums, as the results dashboard will; numpy only draws the visitors. Seeded.

1. Peeking (A/A): experiments with no true difference (both arms convert at 5 %), looked at
   after every batch of visitors (100 looks). The naive fixed-horizon z-test, read at every
   look and stopped at the first p < 0.05, finds a "winner" far more often than 5 %; the
   asymptotic confidence sequence (``sequential``), stopped the first time it excludes 0,
   must stay at or under 5 %. Also the fixed test read once, at the end (about 5 %), and the
   same A/A on a skewed mean (lognormal value per visitor) with Welch's t-test.
2. Power: the same design with a true +10 % relative lift (5 % -> 5.5 %), 32,000 visitors
   per arm at the last look (the fixed-horizon test's 80 % power sample): how often each
   test finds the lift by the end, and when the sequence stops; and the sequence again with
   80,000 per arm at the last look, the price of being allowed to look at any time.
3. CUPED: a world where a visitor's pre-period value predicts their outcome (correlation
   about 0.65, so an expected 42 % less variance); the spread of the estimated effect across experiments with and without the
   adjustment (the real variance reduction), against the reduction the engine reports, and
   each interval's coverage of the true effect.
4. SRM: assignment counts of 52/48 (an injected imbalance) and 50/50 (fair), flagged at
   p < 0.001, at several sample sizes.

Rows go to ``bench/RESULTS.md`` (section "Statistics: error rates by simulation").

    .venv/bin/python bench/statistics_error_rates.py [--experiments 1000] [--seed 2026]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, now_utc, results_append, versions  # noqa: E402
from personalization.engine.statistics import (  # noqa: E402
    PreExposureSums,
    VariantSums,
    confidence_sequence,
    experiment_compare,
    moments,
    proportions_test,
    relative_difference,
    sample_ratio_check,
    welch_test,
)

LOOKS = 100
BATCH = 320  # visitors per arm between looks: 32,000 per arm at the last look
BASE_RATE = 0.05
ALPHA = 0.05


def peeking(
    experiments: int, lift: float, tuning: float, rng: np.random.Generator, *, looks: int = LOOKS, batch: int = BATCH
) -> dict[str, float]:
    """Per experiment: does the naive test (any look / last look) or the sequence (any look) reject, and when."""
    rates = np.array([BASE_RATE, BASE_RATE * (1 + lift)])
    conversions = rng.binomial(batch, rates, size=(experiments, looks, 2)).cumsum(axis=1)
    naive_any = naive_last = sequential_any = sequential_right = 0
    stops: list[int] = []
    for experiment in conversions:
        naive_hit = sequential_hit = False
        for look, (ca, cb) in enumerate(experiment.tolist(), start=1):
            n = look * batch
            a, b = VariantSums("a", n, ca), VariantSums("b", n, cb)
            fixed = proportions_test(a, b)
            if fixed.p_value < ALPHA:
                naive_hit = True
                naive_last += look == looks
            if not sequential_hit:
                effect = relative_difference(moments(a, "rate"), moments(b, "rate"))
                if effect is not None:
                    lo, hi = confidence_sequence(effect, tuning=tuning)
                    if lo > 0 or hi < 0:
                        sequential_hit = True
                        sequential_right += lo > 0
                        stops.append(n)
        naive_any += naive_hit
        sequential_any += sequential_hit
    return {
        "naive_any": naive_any / experiments,
        "naive_last": naive_last / experiments,
        "sequential_any": sequential_any / experiments,
        "sequential_right": sequential_right / experiments,
        "median_stop": float(np.median(stops)) if stops else float("nan"),
    }


def peeking_means(experiments: int, tuning: float, rng: np.random.Generator) -> dict[str, float]:
    """A/A on a skewed value per visitor (lognormal, as revenue is): Welch's t read at every look vs the sequence."""
    naive_any = sequential_any = 0
    for _ in range(experiments):
        values = rng.lognormal(0.0, 1.0, size=(LOOKS, 2, BATCH))
        totals = values.sum(axis=2).cumsum(axis=0).tolist()
        squares = (values * values).sum(axis=2).cumsum(axis=0).tolist()
        naive_hit = sequential_hit = False
        for look in range(LOOKS):
            n = (look + 1) * BATCH
            a = VariantSums("a", n, totals[look][0], squares[look][0])
            b = VariantSums("b", n, totals[look][1], squares[look][1])
            naive_hit = naive_hit or welch_test(a, b).p_value < ALPHA
            if not sequential_hit:
                effect = relative_difference(moments(a, "mean"), moments(b, "mean"))
                if effect is not None:
                    lo, hi = confidence_sequence(effect, tuning=tuning)
                    sequential_hit = lo > 0 or hi < 0
        naive_any += naive_hit
        sequential_any += sequential_hit
    return {"naive_any": naive_any / experiments, "sequential_any": sequential_any / experiments}


def cuped_world(experiments: int, per_arm: int, effect: float, rng: np.random.Generator) -> dict[str, float]:
    """Spread of the estimated effect with and without CUPED, and interval coverage of the truth."""
    raw_estimates, cuped_estimates, reported = [], [], []
    raw_cover = cuped_cover = 0
    for _ in range(experiments):
        arms = []
        for key, shift in (("a", 0.0), ("b", effect)):
            pre = rng.gamma(2.0, 2.0, size=per_arm)  # last month's value per visitor
            y = 0.5 + 0.6 * pre + shift + rng.normal(0.0, 2.0, size=per_arm)
            sums = PreExposureSums(float(pre.sum()), float((pre * pre).sum()), float((pre * y).sum()))
            arms.append(VariantSums(key, per_arm, float(y.sum()), float((y * y).sum()), sums))
        for use_cuped, estimates in ((False, raw_estimates), (True, cuped_estimates)):
            comparison = experiment_compare(arms[0], arms[1:], kind="mean", cuped=use_cuped).comparisons[0]
            assert comparison.absolute_lift is not None
            assert comparison.absolute_ci95 is not None
            estimates.append(comparison.absolute_lift)
            lo, hi = comparison.absolute_ci95
            covered = lo <= effect <= hi
            if use_cuped:
                cuped_cover += covered
                reported.append(comparison.cuped_variance_reduction or 0.0)
            else:
                raw_cover += covered
    return {
        "raw_sd": float(np.std(raw_estimates)),
        "cuped_sd": float(np.std(cuped_estimates)),
        "empirical_reduction": 1 - float(np.var(cuped_estimates) / np.var(raw_estimates)),
        "reported_reduction": float(np.mean(reported)),
        "raw_coverage": raw_cover / experiments,
        "cuped_coverage": cuped_cover / experiments,
    }


def srm_rates(runs: int, visitors: int, share: float, rng: np.random.Generator) -> float:
    first = rng.binomial(visitors, share, size=runs)
    return float(np.mean([sample_ratio_check([int(a), visitors - int(a)]).mismatch for a in first]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-write", action="store_true", help="print the figures, leave RESULTS.md alone")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    command = f".venv/bin/python bench/statistics_error_rates.py --experiments {args.experiments} --seed {args.seed}"
    planned = 2 * LOOKS * BATCH
    rows: list[list[object]] = []
    started = time.perf_counter()

    def row(check: str, setup: str, figure: str, target: str, met: bool | None) -> None:
        rows.append([check, setup, figure, target, "–" if met is None else ("yes" if met else "NO")])
        print(f"{check}: {figure}  [{setup}]  target {target}", flush=True)

    design = f"{args.experiments} experiments, 2 arms at {BASE_RATE:.0%}, {LOOKS} looks of {BATCH}/arm (to {LOOKS * BATCH:,}/arm)"
    for tuning in (planned, 5000):
        aa = peeking(args.experiments, 0.0, tuning, rng)
        label = f"n* = {tuning:,} (planned sample)" if tuning == planned else f"n* = {tuning:,} (default)"
        if tuning == planned:
            row(
                "A/A, naive z-test at every look",
                design,
                f"{aa['naive_any']:.1%} false positives",
                "about 37 % expected",
                None,
            )
            row("A/A, naive z-test at the last look only", design, f"{aa['naive_last']:.1%}", "about 5 %", None)
        row(
            "A/A, confidence sequence at every look",
            f"{design}; {label}",
            f"{aa['sequential_any']:.1%} false positives",
            "<= 5 %",
            aa["sequential_any"] <= 0.05,
        )

    means = peeking_means(args.experiments, planned, rng)
    means_design = design.replace(f"2 arms at {BASE_RATE:.0%}", "2 arms, lognormal(0, 1) value per visitor")
    row(
        "A/A on a mean, naive Welch t-test at every look",
        means_design,
        f"{means['naive_any']:.1%} false positives",
        "about 37 % expected",
        None,
    )
    row(
        "A/A on a mean, confidence sequence at every look",
        f"{means_design}; n* = {planned:,}",
        f"{means['sequential_any']:.1%} false positives",
        "<= 5 %",
        means["sequential_any"] <= 0.05,
    )

    power = peeking(args.experiments, 0.10, planned, rng)
    power_design = design.replace(f"2 arms at {BASE_RATE:.0%}", f"{BASE_RATE:.0%} vs {BASE_RATE * 1.1:.1%} (+10 %)")
    row(
        "power, fixed z-test read once at the end",
        power_design,
        f"{power['naive_last']:.1%}",
        "about 80 % by design",
        None,
    )
    row(
        "power, confidence sequence at any look",
        f"{power_design}; n* = {planned:,}",
        f"{power['sequential_any']:.1%} (right direction {power['sequential_right']:.1%});"
        f" median stop at {power['median_stop']:,.0f}/arm",
        "reported",
        None,
    )

    longer = peeking(args.experiments, 0.10, 2 * LOOKS * 800, rng, batch=800)
    row(
        "power, confidence sequence at any look",
        f"{power_design.replace('of 320/arm (to 32,000/arm)', 'of 800/arm (to 80,000/arm)')}; n* = {2 * LOOKS * 800:,}",
        f"{longer['sequential_any']:.1%} (right direction {longer['sequential_right']:.1%});"
        f" median stop at {longer['median_stop']:,.0f}/arm",
        "reported",
        None,
    )

    cuped = cuped_world(args.experiments, 2000, 0.2, rng)
    row(
        "CUPED variance reduction",
        f"{args.experiments} experiments, 2,000/arm, value = 0.5 + 0.6 x pre-period value (Gamma(2, 2)) + Normal(0, 2) noise: corr² = 0.42, true effect +0.2",
        f"sd of effect {cuped['raw_sd']:.4f} -> {cuped['cuped_sd']:.4f}: variance -{cuped['empirical_reduction']:.0%}"
        f" (engine reports -{cuped['reported_reduction']:.0%}); 95 % coverage {cuped['raw_coverage']:.1%} raw,"
        f" {cuped['cuped_coverage']:.1%} CUPED",
        "variance reduced, coverage ~95 %",
        cuped["empirical_reduction"] > 0.3 and 0.93 <= cuped["cuped_coverage"] <= 0.97,
    )

    for visitors in (5000, 10000, 20000):
        flagged = srm_rates(args.experiments, visitors, 0.52, rng)
        row(
            "SRM on a 52/48 split",
            f"{args.experiments} runs of {visitors:,} visitors",
            f"{flagged:.1%} flagged",
            "reported",
            None,
        )
    fair = srm_rates(10 * args.experiments, 20000, 0.5, rng)
    row(
        "SRM on a fair 50/50 split",
        f"{10 * args.experiments} runs of 20,000 visitors",
        f"{fair:.2%} flagged",
        "about 0.1 % (p < 0.001)",
        fair <= 0.003,
    )
    elapsed = time.perf_counter() - started
    print(f"{elapsed:.0f} s", flush=True)
    if args.no_write:
        return
    stamp = [now_utc(), machine(), versions(), f"`{command}` ({elapsed:.0f} s)"]
    results_append(
        "Statistics: error rates by simulation",
        ["date", "machine", "versions", "command", "check", "setup", "figure", "target", "met"],
        [stamp + r for r in rows],
    )


if __name__ == "__main__":
    main()
