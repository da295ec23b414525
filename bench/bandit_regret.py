"""How much does the bandit lose against always showing the best arm, when the world stands still and when it drifts?

A simulated slot with four variants whose click rates are known. Visitors arrive in batches of
``--batch`` (200), one batch per simulated 6 minutes (2,000 visitors an hour); before each batch
the allocation is recomputed from every click and exposure so far, as serving's job does every
minute, and each visitor of the batch is served by ``BanditPolicy.choose`` (a fresh visitor id,
so the sticky hash spreads them by the allocation) and clicks with their variant's rate.

Worlds (click rates of variants a, b, c, d):
- stationary: 4 %, 5 %, 6 %, 7 % for the whole run;
- drifting: 7 %, 6 %, 5 %, 4 % for the first half, then reversed (4 %, 5 %, 6 %, 7 %): the best
  variant becomes the worst.
Policies: uniform (a quarter each); epsilon-greedy (ε = 0.1 spread evenly, the rest to the best
observed click rate); Thompson sampling (``allocation_compute``, Beta-Bernoulli, floor 1 %) with the
uniform Beta(1, 1) prior and with the prior the fold uses since 2026-12-04 (centred on the slot's
pooled click rate, ``beta_prior``); the
same with old evidence fading by ``--discount`` (0.9) per simulated hour (``stats_discount``); and
top-two Thompson sampling (no discount), which trades reward for telling the two best apart.

Regret is expected regret: over every visitor, the best click rate at that moment minus the
click rate of the variant shown (so click noise does not blur it); reported as the mean over
seeds, with its standard deviation, in clicks lost, and per 1,000 visitors. The last column is
the share of the final tenth of the run given to the variant that is best then.

Run:  .venv/bin/python bench/bandit_regret.py                      (5 seeds, 48,000 visitors per run)
      .venv/bin/python bench/bandit_regret.py --seeds 2 --horizon 12000   (quick look)
Prints markdown rows for bench/RESULTS.md (the lead appends them).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._common import machine, now_utc  # noqa: E402
from personalization.engine import (  # noqa: E402
    Allocation,
    ArmStats,
    BanditPolicy,
    Candidate,
    Context,
    allocation_compute,
    stats_discount,
)
from personalization.engine.bandits import pooled_rate  # noqa: E402

ARMS = ("a", "b", "c", "d")
BATCH_MINUTES = 6.0
EPSILON = 0.1
FLOOR = 0.01


@dataclass(frozen=True)
class World:
    name: str
    rates: Callable[[float], tuple[float, ...]]  # click rates at this fraction of the run


WORLDS = (
    World("stationary", lambda at: (0.04, 0.05, 0.06, 0.07)),
    World("drifting", lambda at: (0.07, 0.06, 0.05, 0.04) if at < 0.5 else (0.04, 0.05, 0.06, 0.07)),
)


@dataclass
class Stats:
    n: np.ndarray
    clicks: np.ndarray

    def arms(self) -> list[ArmStats]:
        return [ArmStats(key, n=float(n), total=float(c)) for key, n, c in zip(ARMS, self.n, self.clicks, strict=True)]


def uniform(stats: Stats, batch: int, seed: int, discount: float) -> Allocation:
    return Allocation({key: 1 / len(ARMS) for key in ARMS}, f"u{batch}", "closed-form", 0)


def epsilon_greedy(stats: Stats, batch: int, seed: int, discount: float) -> Allocation:
    # Untried variants first (an infinite mean), then the best observed rate; ties to the first.
    means = np.where(stats.n > 0, stats.clicks / np.maximum(stats.n, 1), np.inf)
    best = int(np.argmax(means))
    shares = {key: EPSILON / len(ARMS) + (1 - EPSILON if i == best else 0.0) for i, key in enumerate(ARMS)}
    return Allocation(shares, f"e{batch}", "closed-form", 0)


def thompson(stats: Stats, batch: int, seed: int, discount: float) -> Allocation:
    return allocation_compute(stats.arms(), floor=FLOOR, seed=seed * 100_003 + batch, version=f"t{batch}")


def thompson_pooled_prior(stats: Stats, batch: int, seed: int, discount: float) -> Allocation:
    rate = pooled_rate(stats.arms())  # what the fold does: each arm's prior centred on the slot's rate
    return allocation_compute(
        stats.arms(), floor=FLOOR, seed=seed * 100_003 + batch, version=f"p{batch}", prior_rate=rate
    )


def thompson_top_two(stats: Stats, batch: int, seed: int, discount: float) -> Allocation:
    return allocation_compute(stats.arms(), floor=FLOOR, top_two=True, seed=seed * 100_003 + batch, version=f"2{batch}")


POLICIES: dict[str, tuple[Callable[[Stats, int, int, float], Allocation], bool]] = {
    "uniform": (uniform, False),
    "epsilon-greedy 0.1": (epsilon_greedy, False),
    "Thompson, uniform prior": (thompson, False),
    "Thompson, pooled prior (the fold's)": (thompson_pooled_prior, False),
    "Thompson, discounted (pooled prior)": (thompson_pooled_prior, True),
    "Thompson, top-two": (thompson_top_two, False),
}


def simulate(world: World, policy: str, seed: int, horizon: int, batch_size: int, discount: float) -> dict[str, float]:
    allocate, discounted = POLICIES[policy]
    rng = np.random.default_rng(seed)
    ids = random.Random(seed)
    stats = Stats(np.zeros(len(ARMS)), np.zeros(len(ARMS)))
    candidates = [Candidate(key) for key in ARMS]
    regret = 0.0
    tail_best = tail_total = 0
    batches = horizon // batch_size
    for batch in range(batches):
        at = batch / batches
        rates = np.array(world.rates(at))
        allocation = allocate(stats, batch, seed, discount)
        bandit = BanditPolicy(salt="bench-hero", allocations={"": allocation}.get)
        shown = np.zeros(len(ARMS), dtype=np.int64)
        for _ in range(batch_size):
            visitor = str(uuid.UUID(int=ids.getrandbits(128), version=4))
            choice = bandit.choose(candidates, Context(visitor_id=visitor), ids)
            shown[ARMS.index(choice.key)] += 1
        clicks = rng.binomial(shown, rates)
        regret += float(np.sum(shown * (rates.max() - rates)))
        if at >= 0.9:
            tail_best += int(shown[int(np.argmax(rates))])
            tail_total += batch_size
        if discounted:
            faded = stats_discount(stats.arms(), discount, BATCH_MINUTES / 60)
            stats = Stats(np.array([arm.n for arm in faded]), np.array([arm.total for arm in faded]))
        stats.n += shown
        stats.clicks += clicks
    return {"regret": regret, "tail_best": tail_best / tail_total if tail_total else float("nan")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5, help="runs per world and policy, seeds 0..N-1 (default 5)")
    parser.add_argument("--horizon", type=int, default=48_000, help="visitors per run (default 48000: 24 hours)")
    parser.add_argument("--batch", type=int, default=200, help="visitors between allocation updates (default 200)")
    parser.add_argument("--discount", type=float, default=0.9, help="per simulated hour (default 0.9)")
    args = parser.parse_args()

    started = time.perf_counter()
    rows = []
    for world in WORLDS:
        for policy in POLICIES:
            runs = [
                simulate(world, policy, seed, args.horizon, args.batch, args.discount) for seed in range(args.seeds)
            ]
            regrets = [run["regret"] for run in runs]
            mean = statistics.fmean(regrets)
            sd = statistics.stdev(regrets) if len(regrets) > 1 else 0.0
            tail = statistics.fmean(run["tail_best"] for run in runs)
            rows.append((world.name, policy, mean, sd, 1000 * mean / args.horizon, tail))
            print(f"  {world.name:<10} {policy:<36} regret {mean:8.1f} ± {sd:6.1f}   best share at the end {tail:.3f}")
    elapsed = time.perf_counter() - started

    hours = args.horizon / args.batch * BATCH_MINUTES / 60
    command = ".venv/bin/python bench/bandit_regret.py" + "".join(
        f" --{name} {value}"
        for name, value, default in (
            ("seeds", args.seeds, 5),
            ("horizon", args.horizon, 48_000),
            ("batch", args.batch, 200),
            ("discount", args.discount, 0.9),
        )
        if value != default
    )
    print()
    print(
        f"Bandit regret ({now_utc()}, {machine()}): 4 variants, {args.horizon:,} visitors per run ({hours:g} simulated"
        f" hours), allocation recomputed every {args.batch} visitors ({BATCH_MINUTES:g} simulated minutes), floor"
        f" {FLOOR:g}, discount {args.discount:g} per hour, seeds 0..{args.seeds - 1}, {elapsed:.0f} s. `{command}`"
    )
    print()
    print(
        "| world | policy | cumulative regret (clicks, mean ± sd over seeds) | regret per 1,000 visitors | share to the best variant, last 10 % |"
    )
    print("|---|---|---|---|---|")
    for world_name, policy, mean, sd, per_thousand, tail in rows:
        print(f"| {world_name} | {policy} | {mean:.1f} ± {sd:.1f} | {per_thousand:.2f} | {tail:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
