"""Does the factorial analysis find the effects that are there, and only those? Simulations with a known truth.

A 2x2x2 multivariate experiment (headline × call-to-action label × image, 8 combinations),
click rate around 5 %, every combination served to the same number of visitors. Two worlds:

- "effects": headline "Free shipping" adds +1.0 point over "Save 10%" (a real main effect),
  and a crossover interaction between the call to action and the image: "Shop now" works with
  "lamp" and "Buy" with "sofa" (interaction contrast +2.0 points, no main effect of either).
  The five other terms (cta, image, headline×cta, headline×image, the three-way) are null.
- "null": every combination converts at 5 %: every term is null, and so are the interactions.

Per term, the share of experiments in which it is declared, three ways: the fixed-horizon
OLS p-value read once (p < 0.05), the same adjusted by Holm across the 7 terms, and the
always-valid p-value adjusted by Holm (what the plain words decide on, safe to read at any
time). For a true term that share is the power, for a null term the false-positive rate; the
"any null term" row is the family-wise error rate. Also the F-test for interactions.
Everything runs the engine's own ``factorial_analysis`` on per-combination sums; numpy only
draws the visitors. Seeded. Prints the figures (and writes them as JSON with ``--json``).

    .venv/bin/python bench/factorial.py [--experiments 2000] [--per-cell 2500 5000 10000] [--seed 2026]
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, now_utc, versions  # noqa: E402
from personalization.engine.statistics import VariantSums  # noqa: E402
from personalization.engine.statistics.factorial import FactorialCell, factorial_analysis  # noqa: E402

ALPHA = 0.05
BASE_RATE = 0.05
HEADLINE_EFFECT = 0.010  # +1.0 point, averaged over the other factors
INTERACTION = 0.020  # the cta × image interaction contrast, +2.0 points
FACTORS = {"headline": ["Save 10%", "Free shipping"], "cta_label": ["Buy", "Shop now"], "image": ["sofa", "lamp"]}
HEADLINE = "headline[Free shipping]"
CTA_IMAGE = "cta_label[Shop now]:image[lamp]"


def world_rates(effects: bool) -> np.ndarray:
    """Each combination's true click rate, in product order (headline, cta, image)."""
    rates = []
    for h, c, i in itertools.product(range(2), repeat=3):
        rate = BASE_RATE
        if effects:
            rate += HEADLINE_EFFECT * (h - 0.5)
            # ±δ/4 by the parity of (cta, image): contrast δ, no cta or image main effect.
            rate += INTERACTION / 4 * (1 if c == i else -1)
        rates.append(rate)
    return np.array(rates)


def truth(effects: bool) -> dict[str, float]:
    return {HEADLINE: HEADLINE_EFFECT, CTA_IMAGE: INTERACTION} if effects else {}


def simulate(effects: bool, per_cell: int, experiments: int, rng: np.random.Generator) -> dict[str, Any]:
    rates = world_rates(effects)
    combos = [dict(zip(FACTORS, levels, strict=True)) for levels in itertools.product(*FACTORS.values())]
    clicks = rng.binomial(per_cell, rates, size=(experiments, len(rates))).tolist()
    raw: dict[str, int] = {}
    holm: dict[str, int] = {}
    sequential: dict[str, int] = {}
    estimates: dict[str, list[float]] = {}
    any_null = {"raw": 0, "holm": 0, "sequential": 0}
    f_rejected = 0
    timings = []
    true_terms = truth(effects)
    for row in clicks:
        cells = [
            FactorialCell(levels, VariantSums(f"c{i}", per_cell, float(x)))
            for i, (levels, x) in enumerate(zip(combos, row, strict=True))
        ]
        started = time.perf_counter()
        analysis = factorial_analysis(cells, FACTORS, kind="rate", tuning=per_cell * len(combos))
        timings.append(time.perf_counter() - started)
        null_hit = {"raw": False, "holm": False, "sequential": False}
        for term in analysis.terms:
            if term.p_value is None or term.estimate is None:  # every combination has visitors: never
                raise RuntimeError(f"{term.name}: not estimated ({term.reason})")
            hits = {
                "raw": term.p_value < ALPHA,
                "holm": (term.p_value_adjusted or 1.0) < ALPHA,
                "sequential": (term.sequential_p_value or 1.0) < ALPHA,
            }
            raw[term.name] = raw.get(term.name, 0) + hits["raw"]
            holm[term.name] = holm.get(term.name, 0) + hits["holm"]
            sequential[term.name] = sequential.get(term.name, 0) + hits["sequential"]
            estimates.setdefault(term.name, []).append(term.estimate)
            if term.name not in true_terms:
                for way, hit in hits.items():
                    null_hit[way] = null_hit[way] or hit
        for way, hit in null_hit.items():
            any_null[way] += hit
        f_rejected += (analysis.interactions.p_value or 1.0) < ALPHA
    terms = []
    for name in raw:
        terms.append(
            {
                "term": name,
                "truth": true_terms.get(name, 0.0),
                "mean_estimate": float(np.mean(estimates[name])),
                "raw": raw[name] / experiments,
                "holm": holm[name] / experiments,
                "sequential": sequential[name] / experiments,
            }
        )
    return {
        "world": "effects" if effects else "null",
        "per_cell": per_cell,
        "visitors": per_cell * len(combos),
        "experiments": experiments,
        "terms": terms,
        "any_null_term": {way: count / experiments for way, count in any_null.items()},
        "interaction_f_test": f_rejected / experiments,
        "analysis_ms_median": 1000 * float(np.median(timings)),
        "analysis_ms_p99": 1000 * float(np.percentile(timings, 99)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiments", type=int, default=2000)
    parser.add_argument("--per-cell", type=int, nargs="+", default=[2500, 5000, 10000])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    command = (
        f".venv/bin/python bench/factorial.py --experiments {args.experiments}"
        f" --per-cell {' '.join(map(str, args.per_cell))} --seed {args.seed}"
    )
    print(f"# Factorial analysis by simulation ({now_utc()}, {machine()}, {versions()})")
    print(f"command: {command}\n")
    runs = []
    for per_cell in args.per_cell:
        for effects in (True, False):
            run = simulate(effects, per_cell, args.experiments, rng)
            runs.append(run)
            se = (0.05 * 0.95 / args.experiments) ** 0.5
            print(
                f"## world {run['world']}: 2x2x2, {per_cell:,} visitors per combination"
                f" ({run['visitors']:,} in all), {args.experiments:,} experiments"
                f" (a 5 % rate is measured ±{se:.1%})"
            )
            print("| term | truth | mean estimate | p < 0.05 | Holm | always-valid + Holm (words) |")
            print("|---|---|---|---|---|---|")
            for term in run["terms"]:
                kind = "power" if term["truth"] else "false positives"
                print(
                    f"| {term['term']} | {term['truth'] * 100:+.1f} pt | {term['mean_estimate'] * 100:+.2f} pt"
                    f" | {term['raw']:.1%} | {term['holm']:.1%} | {term['sequential']:.1%} ({kind}) |"
                )
            anyn = run["any_null_term"]
            print(
                f"| any null term (family-wise) | | | {anyn['raw']:.1%} | {anyn['holm']:.1%} | {anyn['sequential']:.1%} |"
            )
            label = "power" if run["world"] == "effects" else "false positives"
            print(f"interaction F-test rejects: {run['interaction_f_test']:.1%} ({label})")
            print(
                f"one analysis: median {run['analysis_ms_median']:.2f} ms, p99 {run['analysis_ms_p99']:.2f} ms\n",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps({"command": command, "date": now_utc(), "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
