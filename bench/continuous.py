"""Does the model strategy learn while it serves? ``simulate_traffic --continuous`` with known truth.

Each run gets a fresh embedded database (SQLite, no broker: tasks eager). Visitors go in batches of 100
through decide() and event ingest; between batches the pipeline is drained and ``models_retrain_due()``
retrains the hero, as beat would live (minimum interval 0: simulated time runs faster than the clock).

* default world (four hidden types, 20,000 visitors): the hero's cumulative expected reward as a share of
  the oracle's, beside uniform random (analytic), the explore-first model (a fifth of the visitors uniform,
  one training, then its model) and non-contextual Thompson sampling (when the ``bandit`` strategy is
  installed), all shown the same visitors. Target: continuous >= 85 % and above Thompson.
* hard world (six types, device x source jointly, 3-12 % click rates, 6,000 visitors), one run per seed:
  the serving policy's value at the end (exact, from its probabilities per type) and the cumulative share,
  of the continuous model and of the bandit learning per device x traffic source (``bandit_context``), and
  of the bandit told to learn by the browser too, which predicts nothing (every visitor's is drawn at
  random): it has to find out which of its fields matter.
  Targets over 10 seeds: the final policy >= 90 % on every seed, the cumulative >= 80 % on average.

It prints markdown rows for ``bench/RESULTS.md``; the lead records them.

    .venv/bin/python bench/continuous.py [--seed 1] [--hard-seeds 10] [--jobs 2] [--skip-default] [--skip-hard]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import machine, now_utc, versions, yes_no  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str]) -> tuple[dict, float]:
    """One simulate_traffic --continuous run on its own fresh database; its JSON and wall seconds."""
    with tempfile.TemporaryDirectory(prefix="tailor-continuous-") as folder:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
        env.update({"TAILOR_VAR_DIR": folder, "LOG_LEVEL": "WARNING"})
        manage = [sys.executable, "manage.py"]
        subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
        started = time.monotonic()
        out = subprocess.run(
            [*manage, "simulate_traffic", "--continuous", "--json", *args],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return json.loads(out), time.monotonic() - started


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def default_world(seed: int, command: str) -> bool:
    result, seconds = run(["--seed", str(seed)])
    arms = result["arms"]
    cont = arms["continuous"]
    thompson = arms.get("thompson", {})
    ran_thompson = bool(thompson.get("curve"))
    met = cont["share_of_oracle"] >= 0.85 and (
        not ran_thompson or cont["share_of_oracle"] > thompson["share_of_oracle"]
    )
    print("\n### continuous (default world)\n")
    print(
        "| date | machine | versions | command | visitors | seed | oracle CTR | uniform | explore-first | Thompson |"
        " continuous (cumulative) | continuous final policy | retrains (promoted) | seconds | target met |"
    )
    print("|" + "---|" * 15)
    print(
        f"| {now_utc()} | {machine()} | {versions()} | `{command}` | {result['visitors']} | {seed} "
        f"| {result['oracle_ctr']:.4f} | {percent(result['uniform_share_of_oracle'])} "
        f"| {percent(arms['explore-first']['share_of_oracle'])} "
        f"| {percent(thompson['share_of_oracle']) if ran_thompson else 'not run: ' + thompson.get('note', '')} "
        f"| {percent(cont['share_of_oracle'])} | {percent(cont['final_value'])} "
        f"| {cont['trainings']} ({cont['promotions']}) | {seconds:.0f} | {yes_no(met)} |"
    )
    print(f"\ncontinuous curve (cumulative share after each tenth): {cont['curve']}")
    print(f"explore-first curve: {arms['explore-first']['curve']}")
    return met


def hard_world(seeds: list[int], jobs: int, command: str) -> bool:
    arms = ("continuous", "contextual-thompson", "contextual-thompson-browser")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        runs = list(pool.map(lambda s: run(["--world", "hard", "--arms", ",".join(arms), "--seed", str(s)]), seeds))
    print("\n### continuous (hard world: six types, device x source, 3-12 %)\n")
    print(
        "| date | machine | command | seed | visitors | uniform | continuous model (cumulative) | its final policy"
        " | retrains (promoted) | contextual Thompson (cumulative) | its final policy"
        " | contextual Thompson with the browser too (cumulative) | its final policy | seconds |"
    )
    print("|" + "---|" * 14)
    finals: dict[str, list[float]] = {arm: [] for arm in arms}
    cumulative: dict[str, list[float]] = {arm: [] for arm in arms}
    for seed, (result, seconds) in zip(seeds, runs, strict=True):
        for arm in arms:
            finals[arm].append(result["arms"][arm]["final_value"] or 0.0)
            cumulative[arm].append(result["arms"][arm]["share_of_oracle"])
        cont, cells = result["arms"]["continuous"], result["arms"]["contextual-thompson"]
        noisy = result["arms"]["contextual-thompson-browser"]
        print(
            f"| {now_utc()} | {machine()} | `{command}` | {seed} | {result['visitors']} "
            f"| {percent(result['uniform_share_of_oracle'])} | {percent(cont['share_of_oracle'])} "
            f"| {percent(cont['final_value'])} | {cont['trainings']} ({cont['promotions']}) "
            f"| {percent(cells['share_of_oracle'])} | {percent(cells['final_value'])} "
            f"| {percent(noisy['share_of_oracle'])} | {percent(noisy['final_value'])} | {seconds:.0f} |"
        )
    met = {}
    for arm in arms:
        mean = sum(cumulative[arm]) / len(seeds)
        met[arm] = min(finals[arm]) >= 0.9 and mean >= 0.8
        print(
            f"\nhard world, {arm}, over {len(seeds)} seeds: final policy min {min(finals[arm]):.1%},"
            f" mean {sum(finals[arm]) / len(seeds):.1%}; cumulative mean {mean:.1%}, min {min(cumulative[arm]):.1%};"
            f" targets (final >= 90 % every seed, cumulative >= 80 % on average) met: {yes_no(met[arm])}"
        )
    return any(met.values())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="The default world's seed.")
    parser.add_argument("--hard-seeds", type=int, default=10, help="Hard-world runs, seeds 1..N.")
    parser.add_argument("--jobs", type=int, default=2, help="Hard-world runs at once (each its own database).")
    parser.add_argument("--skip-default", action="store_true")
    parser.add_argument("--skip-hard", action="store_true")
    args = parser.parse_args()
    command = ".venv/bin/python bench/continuous.py " + " ".join(sys.argv[1:])
    ok = True
    if not args.skip_default:
        ok &= default_world(args.seed, command.strip())
    if not args.skip_hard:
        ok &= hard_world(list(range(1, args.hard_seeds + 1)), args.jobs, command.strip())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
