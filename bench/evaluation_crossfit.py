"""Are cross-fitted off-policy intervals narrower than the 30 % hold-out's, and do they still cover the truth?

Synthetic logs with a known answer: visitors of three types (shares 50/30/20 %), three
variants clicked with a known probability per (type, variant), a logging policy with
known propensities that favours the wrong variant for two types, and target policies
whose true value is exact (uniform, the oracle, and each variant for everyone). Each log
is evaluated two ways, on the same rows (a paired comparison):

- hold-out (what ``evaluate_policy`` did): a reward model trained on the oldest 70 %,
  every estimate computed on the newest 30 %;
- cross-fit (what it does now): IPS and SNIPS on every row; DM and DR with 5 folds, each
  fold's rows predicted by a model trained on the other four.

The reward model is either a table of (type, variant) click rates shrunk to the mean
(fast, many logs) or LightGBM through ``reward_model_train`` (the model Tailor trains,
with the same clipped inverse-propensity row weights), on feature rows that also carry
a useless noise column. Figures: mean 95 % interval width
and the share of logs whose interval covers the truth, per policy and estimator, and the
width ratio cross-fit / hold-out. The DR and IPS rows are appended to ``bench/RESULTS.md``
(section "Offline evaluation: cross-fit vs hold-out"); ``--json`` saves every figure.

    .venv/bin/python bench/evaluation_crossfit.py [--logs 400] [--lightgbm-logs 40] [--rows 2000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, now_utc, results_append, versions  # noqa: E402
from personalization.engine.estimators import (  # noqa: E402
    Estimate,
    crossfit,
    folds_assign,
    policy_estimates,
)

TYPE_SHARE = np.array([0.5, 0.3, 0.2])
CLICK = np.array([[0.70, 0.40, 0.20], [0.30, 0.80, 0.50], [0.40, 0.30, 0.90]])  # P(click | type, variant)
LOGGING = np.array([[0.6, 0.2, 0.2], [0.6, 0.2, 0.2], [0.2, 0.6, 0.2]])  # P(variant | type)
N_TYPES, N_ACTIONS = CLICK.shape
POLICIES = {
    "uniform": np.full((N_TYPES, N_ACTIONS), 1 / N_ACTIONS),
    "oracle": np.eye(N_ACTIONS)[CLICK.argmax(axis=1)],
    **{f"fixed:{a}": np.tile(np.eye(N_ACTIONS)[a], (N_TYPES, 1)) for a in range(N_ACTIONS)},
}
ESTIMATORS = ("ips", "snips", "dm", "dr")
HOLDOUT = 0.3
FOLDS = 5

# As training.py weighted its rows when these figures were measured; it trains unweighted since 2026-12-04.
WEIGHT_CLIP = 20.0

# A log is (types, actions, rewards, propensities, noise), one entry per row.
Log = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
# (log, training rows) -> a function from rows to predicted rewards (rows × variants)
Fit = Callable[[Log, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def true_value(policy: np.ndarray) -> float:
    return float(TYPE_SHARE @ (policy * CLICK).sum(axis=1))


def simulate(n: int, seed: int) -> Log:
    rng = np.random.default_rng(seed)
    types = rng.choice(N_TYPES, size=n, p=TYPE_SHARE)
    cumulative = LOGGING.cumsum(axis=1)[types]
    actions = np.minimum((rng.random(n)[:, None] > cumulative).sum(axis=1), N_ACTIONS - 1)
    rewards = (rng.random(n) < CLICK[types, actions]).astype(float)
    return types, actions, rewards, LOGGING[types, actions], rng.random(n)


def tabular_fit(log: Log, train: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    types, actions, rewards, _, _ = log
    prior = float(rewards[train].mean())
    clicks, shown = np.zeros((N_TYPES, N_ACTIONS)), np.zeros((N_TYPES, N_ACTIONS))
    np.add.at(clicks, (types[train], actions[train]), rewards[train])
    np.add.at(shown, (types[train], actions[train]), 1.0)
    table = (clicks + 2 * prior) / (shown + 2)
    return lambda rows: table[types[rows]]


def _features(log: Log, rows: np.ndarray, actions: np.ndarray) -> list[dict[str, object]]:
    types, _, _, _, noise = log
    return [
        {"segment": f"t{types[i]}", "noise": float(noise[i]), "variant": f"v{a}"}
        for i, a in zip(rows.tolist(), actions.tolist(), strict=True)
    ]


def lightgbm_fit(log: Log, train: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    from personalization.engine.reward_model import reward_model_train

    _, actions, rewards, propensities, _ = log
    weights = np.minimum(1.0 / propensities[train], WEIGHT_CLIP)
    model, _ = reward_model_train(
        _features(log, train, actions[train]), rewards[train], weights, params={"num_threads": 1}
    )
    return lambda rows: np.column_stack(
        [model.predict(_features(log, rows, np.full(rows.size, a))) for a in range(N_ACTIONS)]
    )


def one_log(n: int, seed: int, fit: Fit) -> dict[str, dict[str, dict[str, Estimate | None]]]:
    """Every policy × estimator on one log, by hold-out and by cross-fitting."""
    log = simulate(n, seed)
    types, actions, rewards, propensities, _ = log
    split = int(n * (1 - HOLDOUT))
    old, new = np.arange(split), np.arange(split, n)
    holdout_predicted = fit(log, old)(new)
    (crossfit_predicted,) = crossfit(
        folds_assign(rewards, FOLDS, seed), lambda train, held_out: [fit(log, train)(held_out)]
    )
    out: dict[str, dict[str, dict[str, Estimate | None]]] = {}
    for name, policy in POLICIES.items():
        target = policy[types]
        holdout = policy_estimates(actions[new], rewards[new], propensities[new], target[new], holdout_predicted)
        crossfitted = policy_estimates(actions, rewards, propensities, target, crossfit_predicted)
        out[name] = {"holdout": dict(holdout.estimates), "crossfit": dict(crossfitted.estimates)}
    return out


def run(model: str, logs: int, n: int, first_seed: int) -> dict[str, dict[str, dict[str, float]]]:
    fit: Fit = tabular_fit if model == "tabular" else lightgbm_fit
    widths: dict[tuple[str, str, str], list[float]] = {}
    covered: dict[tuple[str, str, str], list[bool]] = {}
    for seed in range(first_seed, first_seed + logs):
        for policy, ways in one_log(n, seed, fit).items():
            truth = true_value(POLICIES[policy])
            for way, estimates in ways.items():
                for estimator, estimate in estimates.items():
                    if estimate is None:
                        continue
                    key = (policy, estimator, way)
                    low, high = estimate.ci95
                    widths.setdefault(key, []).append(high - low)
                    covered.setdefault(key, []).append(low <= truth <= high)
    figures: dict[str, dict[str, dict[str, float]]] = {}
    for policy in POLICIES:
        for estimator in ESTIMATORS:
            holdout, crossfitted = (policy, estimator, "holdout"), (policy, estimator, "crossfit")
            figures.setdefault(policy, {})[estimator] = {
                "width_holdout": float(np.mean(widths[holdout])),
                "width_crossfit": float(np.mean(widths[crossfitted])),
                "width_ratio": float(np.mean(widths[crossfitted]) / np.mean(widths[holdout])),
                "coverage_holdout": float(np.mean(covered[holdout])),
                "coverage_crossfit": float(np.mean(covered[crossfitted])),
            }
    return figures


def table(model: str, logs: int, n: int, figures: dict[str, dict[str, dict[str, float]]], seconds: float) -> str:
    lines = [
        f"### {model} reward model: {logs} logs of {n} rows, 95 % intervals ({seconds:.0f} s)",
        "",
        "| policy (truth) | estimator | width hold-out | width cross-fit | ratio | coverage hold-out | coverage cross-fit |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for policy, by_estimator in figures.items():
        for estimator, f in by_estimator.items():
            lines.append(
                f"| {policy} ({true_value(POLICIES[policy]):.3f}) | {estimator} | {f['width_holdout']:.4f} | "
                f"{f['width_crossfit']:.4f} | {f['width_ratio']:.2f} | {f['coverage_holdout']:.1%} | "
                f"{f['coverage_crossfit']:.1%} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=400, help="logs evaluated with the tabular model")
    parser.add_argument("--lightgbm-logs", type=int, default=40, help="logs evaluated with LightGBM (0: skip)")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=10_000)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    report: dict[str, object] = {"date": now_utc(), "machine": machine(), "versions": versions(), "rows": args.rows}
    for model, logs in (("tabular", args.logs), ("lightgbm", args.lightgbm_logs)):
        if logs <= 0:
            continue
        started = time.monotonic()
        figures = run(model, logs, args.rows, args.seed)
        seconds = time.monotonic() - started
        print(table(model, logs, args.rows, figures, seconds), end="\n\n", flush=True)
        report[model] = {"logs": logs, "seconds": seconds, "figures": figures}
        results_append(
            "Offline evaluation: cross-fit vs hold-out",
            [
                "date",
                "reward model",
                "logs × rows",
                "policy (truth)",
                "estimator",
                "width hold-out",
                "width cross-fit",
                "ratio",
                "coverage hold-out",
                "coverage cross-fit",
                "command",
            ],
            [
                (
                    report["date"],
                    model,
                    f"{logs} × {args.rows}",
                    f"{policy} ({true_value(POLICIES[policy]):.3f})",
                    estimator,
                    f"{f['width_holdout']:.4f}",
                    f"{f['width_crossfit']:.4f}",
                    f"{f['width_ratio']:.2f}",
                    f"{f['coverage_holdout']:.1%}",
                    f"{f['coverage_crossfit']:.1%}",
                    f"bench/evaluation_crossfit.py --logs {args.logs} --lightgbm-logs {args.lightgbm_logs}",
                )
                for policy, by_estimator in figures.items()
                for estimator, f in by_estimator.items()
                if estimator in ("dr", "ips")
            ],
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
