"""The bandit engine: Thompson-sampling allocations, discounting and the sticky ``BanditPolicy``."""

from __future__ import annotations

import functools
import math
import random
import uuid
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from personalization.engine import (
    Allocation,
    ArmStats,
    BanditPolicy,
    Candidate,
    Choice,
    Context,
    SegmentSpec,
    allocation_compute,
    build_policy,
    stats_discount,
)
from personalization.engine.bandits import MONTE_CARLO_DRAWS, beta_prior
from personalization.engine.bandits import pooled_rate as pooling
from personalization.engine.segments import rule_from_dict

MC_TOLERANCE = 0.005  # what the engine promises for a Monte Carlo probability, at 95 %


def beta_beats_by_quadrature(a: tuple[float, float], b: tuple[float, float]) -> float:
    """P(B > A) for independent Beta A and B: ∫ f_A(x)·(1 - F_B(x)) dx with scipy's adaptive quadrature."""
    value, _ = integrate.quad(lambda x: stats.beta.pdf(x, *a) * stats.beta.sf(x, *b), 0.0, 1.0, limit=200, epsabs=1e-12)
    return value


def brute_force_best(samplers, draws: int, seed: int) -> np.ndarray:
    """Share of draws each arm wins, sampling every arm's posterior independently (no engine code)."""
    rng = np.random.default_rng(seed)
    matrix = np.column_stack([sample(rng, draws) for sample in samplers])
    return np.bincount(matrix.argmax(axis=1), minlength=len(samplers)) / draws


def bernoulli(key: str, trials: float, successes: float) -> ArmStats:
    return ArmStats(key, n=trials, total=successes)


@functools.cache
def visitor_ids(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def segment(key: str, *rules: dict) -> SegmentSpec:
    return SegmentSpec(key=key, rules=tuple(rule_from_dict(r) for r in rules))


MOBILE = segment("mobile", {"kind": "device", "devices": ["mobile"]})


# Closed form: two Beta arms


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ((10, 90), (14, 86)),  # 10/100 against 14/100 clicks (successes, trials), Beta(1, 1) prior added below
        ((0, 0), (3, 5)),
        ((120, 1000), (118, 1000)),
        ((5, 5), (0, 12)),
        ((2, 40), (2, 40)),
    ],
)
def test_two_bernoulli_arms_are_exact_against_scipy_integration(a, b):
    arms = [bernoulli("a", a[1], a[0]), bernoulli("b", b[1], b[0])]
    allocation = allocation_compute(arms, floor=0.0)

    expected_b = beta_beats_by_quadrature((1 + a[0], 1 + a[1] - a[0]), (1 + b[0], 1 + b[1] - b[0]))
    assert allocation.method == "closed-form"
    assert allocation.draws == 0
    assert allocation.probabilities["b"] == pytest.approx(expected_b, abs=1e-9)
    assert allocation.probabilities["a"] == pytest.approx(1 - expected_b, abs=1e-9)


def test_two_bernoulli_arms_with_one_integer_parameter_use_the_closed_form():
    # Discounted counts are fractional, but one whole parameter (here b's 1 + 11 failures) is enough.
    arms = [bernoulli("a", 30.0, 10.5), bernoulli("b", 20.25, 9.25)]  # Beta(11.5, 20.5) and Beta(10.25, 12)
    allocation = allocation_compute(arms, floor=0.0)

    assert allocation.method == "closed-form"
    assert allocation.probabilities["b"] == pytest.approx(beta_beats_by_quadrature((11.5, 20.5), (10.25, 12)), abs=1e-9)


def test_two_fractional_bernoulli_arms_fall_back_to_monte_carlo_within_tolerance():
    arms = [bernoulli("a", 30.3, 10.4), bernoulli("b", 20.6, 9.1)]
    allocation = allocation_compute(arms, floor=0.0, seed=3)

    expected = beta_beats_by_quadrature((11.4, 20.9), (10.1, 12.5))
    assert allocation.method == "monte-carlo"
    assert allocation.draws == MONTE_CARLO_DRAWS
    assert abs(allocation.probabilities["b"] - expected) < MC_TOLERANCE


# The prior centred on the slot's pooled rate


@pytest.mark.parametrize(
    ("rate", "prior"),
    [(None, (1, 1)), (0.5, (1, 1)), (0.05, (1, 19)), (0.06, (1, 16)), (0.95, (19, 1)), (0.999, (999, 1))],
)
def test_the_prior_is_worth_one_success_at_the_pooled_rate(rate, prior):
    assert beta_prior(rate) == prior


@given(st.floats(min_value=0.002, max_value=0.998))
def test_the_priors_mean_is_near_the_rate_and_its_parameters_are_whole(rate):
    a0, b0 = beta_prior(rate)
    assert min(a0, b0) == 1
    near = min(rate, 1 - rate)  # rounding 1/near - 1 to a whole number moves the mean by at most near²/(2 - near)
    assert abs(a0 / (a0 + b0) - rate) <= near * near / (2 - near) + 1e-12


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.1, math.nan, "0.1"])
def test_a_rate_outside_zero_and_one_is_refused(rate):
    with pytest.raises(ValueError, match="prior_rate"):
        allocation_compute([ArmStats("a"), ArmStats("b")], prior_rate=rate)


def test_two_arms_under_the_pooled_prior_keep_their_closed_form_checked_by_quadrature():
    a, b = (10, 200), (3, 30)  # (successes, trials): 5 % on 200 against 10 % on 30
    allocation = allocation_compute(
        [bernoulli("a", a[1], a[0]), bernoulli("b", b[1], b[0])], floor=0.0, prior_rate=0.05
    )
    assert allocation.method == "closed-form"
    expected = beta_beats_by_quadrature((1 + a[0], 19 + a[1] - a[0]), (1 + b[0], 19 + b[1] - b[0]))
    assert allocation.probabilities["b"] == pytest.approx(expected, abs=1e-9)


def test_at_a_low_rate_an_untried_arm_gets_less_than_the_uniform_prior_gives_it():
    # The leader has 30 clicks in 500 views (6 %); an arm never shown looks like a coin under Beta(1, 1).
    arms = [bernoulli("leader", 500, 30), bernoulli("other", 400, 20), ArmStats("new")]
    uniform = allocation_compute(arms, floor=0.0, seed=4).probabilities
    pooled = allocation_compute(arms, floor=0.0, seed=4, prior_rate=pooling(arms)).probabilities
    assert uniform["new"] > 0.9
    assert pooled["new"] < uniform["new"] / 2
    assert pooled["leader"] > 5 * uniform["leader"]


def test_the_pooled_rate_adds_one_success_and_one_failure():
    assert pooling([bernoulli("a", 98, 9), bernoulli("b", 0, 0)]) == pytest.approx(10 / 100)
    assert pooling([]) == 0.5


# Monte Carlo: three or more arms


def test_monte_carlo_draws_are_enough_for_half_a_point_at_95_percent():
    # Worst case p = 0.5: the 95 % half-width 1.96·sqrt(0.25 / draws) must not exceed 0.005.
    assert 1.96 * math.sqrt(0.25 / MONTE_CARLO_DRAWS) <= MC_TOLERANCE + 1e-12
    assert MONTE_CARLO_DRAWS == 38_416


def test_three_bernoulli_arms_match_a_brute_force_simulation():
    counts = [(40, 400), (48, 400), (45, 380)]  # (successes, trials)
    arms = [bernoulli(key, n, s) for key, (s, n) in zip("abc", counts, strict=True)]
    allocation = allocation_compute(arms, floor=0.0, seed=1)

    samplers = [lambda rng, m, s=s, n=n: rng.beta(1 + s, 1 + n - s, m) for s, n in counts]
    truth = brute_force_best(samplers, 1_000_000, seed=99)  # ±0.001 at 95 %
    assert allocation.method == "monte-carlo"
    for i, key in enumerate("abc"):
        assert abs(allocation.probabilities[key] - truth[i]) < MC_TOLERANCE + 0.001


def test_monte_carlo_error_stays_within_tolerance_over_many_seeds():
    # Four nearly tied arms put every probability near its widest spread. Across 20 seeds, at most a few of the
    # 80 estimates may leave ±0.005 (5 % nominal: 4 expected; allow 10) and none by more than twice that.
    counts = [(50, 500), (52, 500), (51, 500), (49, 500)]
    arms = [bernoulli(key, n, s) for key, (s, n) in zip("abcd", counts, strict=True)]
    samplers = [lambda rng, m, s=s, n=n: rng.beta(1 + s, 1 + n - s, m) for s, n in counts]
    truth = brute_force_best(samplers, 2_000_000, seed=7)
    errors = []
    for seed in range(20):
        probabilities = allocation_compute(arms, floor=0.0, seed=seed).probabilities
        errors += [abs(probabilities[key] - truth[i]) for i, key in enumerate("abcd")]
    assert sum(error > MC_TOLERANCE for error in errors) <= 10
    assert max(errors) < 2 * MC_TOLERANCE


def test_monte_carlo_is_deterministic_with_a_seed():
    arms = [bernoulli(key, 100, s) for key, s in zip("abc", (10, 12, 11), strict=True)]
    first = allocation_compute(arms, seed=42)
    again = allocation_compute(arms, seed=42)
    other = allocation_compute(arms, seed=43)

    assert first == again
    assert first.probabilities != other.probabilities


def test_identical_arms_get_exactly_equal_shares_without_sampling():
    allocation = allocation_compute([ArmStats(key) for key in "abcde"])
    assert allocation.method == "closed-form"
    assert list(allocation.probabilities.values()) == [pytest.approx(0.2, abs=1e-15)] * 5


def test_a_clearly_better_arm_gets_nearly_everything_but_the_floors():
    arms = [bernoulli("a", 5000, 100), bernoulli("b", 5000, 400), bernoulli("c", 5000, 120)]
    probabilities = allocation_compute(arms, floor=0.01, seed=0).probabilities

    assert probabilities["a"] == pytest.approx(0.01)
    assert probabilities["c"] == pytest.approx(0.01)
    assert probabilities["b"] == pytest.approx(0.98)


# The floor


def test_floor_mixes_with_the_thompson_share():
    arms = [bernoulli("a", 100, 10), bernoulli("b", 100, 14)]
    bare = allocation_compute(arms, floor=0.0).probabilities
    floored = allocation_compute(arms, floor=0.05).probabilities

    for key in "ab":
        assert floored[key] == pytest.approx(0.05 + 0.9 * bare[key], abs=1e-12)


def test_a_floor_too_large_for_the_arms_is_clipped_to_uniform():
    arms = [bernoulli("a", 1000, 10), bernoulli("b", 1000, 300), bernoulli("c", 1000, 20), bernoulli("d", 1000, 30)]
    probabilities = allocation_compute(arms, floor=0.4, seed=0).probabilities
    assert list(probabilities.values()) == [pytest.approx(0.25)] * 4


@pytest.mark.parametrize("floor", [-0.01, math.nan, math.inf])
def test_a_bad_floor_is_refused(floor):
    with pytest.raises(ValueError, match="floor"):
        allocation_compute([ArmStats("a"), ArmStats("b")], floor=floor)


@pytest.mark.parametrize(
    ("arms", "message"),
    [
        ([], "no arms"),
        ([ArmStats("a"), ArmStats("a")], "twice"),
        ([ArmStats("a", n=-1)], "n"),
        ([ArmStats("a", n=10, total=11)], "total"),
        ([ArmStats("a", n=math.nan)], "n"),
    ],
)
def test_bad_arm_statistics_are_refused(arms, message):
    with pytest.raises(ValueError, match=message):
        allocation_compute(arms)


def test_an_unknown_likelihood_is_refused():
    with pytest.raises(ValueError, match="likelihood"):
        allocation_compute([ArmStats("a")], likelihood="poisson")


# Top-two Thompson sampling


def _top_two_by_resampling(counts, rounds: int, seed: int) -> np.ndarray:
    """Russo's procedure literally: a leader from one posterior draw; half the time, redraw until another arm leads."""
    rng = np.random.default_rng(seed)
    a = np.array([1 + s for s, _ in counts], dtype=float)
    b = np.array([1 + n - s for s, n in counts], dtype=float)
    leaders = rng.beta(a, b, size=(rounds, len(counts))).argmax(axis=1)
    played = leaders.copy()
    waiting = np.flatnonzero(rng.random(rounds) >= 0.5)  # these rounds play a challenger
    while waiting.size:  # every waiting round redraws at once; those whose best is still the leader go again
        best = rng.beta(a, b, size=(waiting.size, len(counts))).argmax(axis=1)
        found = best != leaders[waiting]
        played[waiting[found]] = best[found]
        waiting = waiting[~found]
    return np.bincount(played, minlength=len(counts)) / rounds


def test_top_two_matches_russos_resampling_procedure():
    counts = [(20, 200), (26, 200), (23, 200)]
    arms = [bernoulli(key, n, s) for key, (s, n) in zip("abc", counts, strict=True)]
    allocation = allocation_compute(arms, floor=0.0, top_two=True, seed=5)

    played = _top_two_by_resampling(counts, 200_000, seed=8)  # ±0.002 at 95 %
    for i, key in enumerate("abc"):
        assert abs(allocation.probabilities[key] - played[i]) < MC_TOLERANCE + 0.002


def test_top_two_moves_traffic_from_the_leader_to_the_challengers():
    arms = [bernoulli("a", 300, 30), bernoulli("b", 300, 45), bernoulli("c", 300, 33)]
    plain = allocation_compute(arms, floor=0.0, seed=2).probabilities
    top_two = allocation_compute(arms, floor=0.0, top_two=True, seed=2).probabilities

    assert plain["b"] > 0.8
    # The leader is played in the half of the rounds where it leads (β·p_b) and as a challenger when it does not.
    assert 0.5 * plain["b"] <= top_two["b"] < 0.6
    assert top_two["a"] > plain["a"]
    assert top_two["c"] > plain["c"]


def test_top_two_with_two_arms_splits_evenly():
    # With two arms the challenger is always the other one, so each is played half the time.
    allocation = allocation_compute([bernoulli("a", 100, 5), bernoulli("b", 100, 30)], floor=0.0, top_two=True)
    assert allocation.method == "closed-form"
    assert allocation.probabilities["a"] == pytest.approx(0.5)


def test_top_two_with_a_certain_leader_shares_the_challenger_half():
    arms = [bernoulli("a", 10_000, 10), bernoulli("b", 10_000, 3000), bernoulli("c", 10_000, 12)]
    probabilities = allocation_compute(arms, floor=0.0, top_two=True, seed=0).probabilities
    assert probabilities["b"] == pytest.approx(0.5)
    assert probabilities["a"] + probabilities["c"] == pytest.approx(0.5)
    assert min(probabilities["a"], probabilities["c"]) > 0.0


# Gaussian rewards (values)


def gaussian_arm(key: str, values: np.ndarray) -> ArmStats:
    return ArmStats(key, n=float(len(values)), total=float(values.sum()), squares=float((values**2).sum()))


def test_gaussian_arms_match_the_student_t_posterior_of_their_means():
    rng = np.random.default_rng(4)
    samples = {"a": rng.normal(10.0, 4.0, 60), "b": rng.normal(11.0, 4.0, 60), "c": rng.normal(10.5, 6.0, 40)}
    arms = [gaussian_arm(key, values) for key, values in samples.items()]
    allocation = allocation_compute(arms, likelihood="gaussian", floor=0.0, seed=9)

    # Brute force from the posterior the engine documents: Normal-Inverse-Gamma with one pseudo-observation
    # at the pooled mean (κ0 = 1, α0 = 1, β0 = the pooled variance), so each mean is Student-t.
    everything = np.concatenate(list(samples.values()))
    m0, v0 = everything.mean(), everything.var()
    samplers = []
    for values in samples.values():
        n = len(values)
        mean = values.mean()
        ss = ((values - mean) ** 2).sum()
        kappa, alpha = 1 + n, 1 + n / 2
        beta = v0 + ss / 2 + n * (mean - m0) ** 2 / (2 * kappa)
        loc, scale = (m0 + values.sum()) / kappa, math.sqrt(beta / (alpha * kappa))
        samplers.append(lambda g, m, loc=loc, scale=scale, df=2 * alpha: loc + scale * g.standard_t(df, m))
    truth = brute_force_best(samplers, 1_000_000, seed=10)

    assert allocation.method == "monte-carlo"
    assert allocation.draws == MONTE_CARLO_DRAWS
    for i, key in enumerate(samples):
        assert abs(allocation.probabilities[key] - truth[i]) < MC_TOLERANCE + 0.001


def test_gaussian_arms_with_much_data_follow_the_normal_approximation():
    # With thousands of values the posterior of each mean is close to Normal(mean, sd² / n): P(B > A) = Φ(d / se).
    a = ArmStats("a", n=4000, total=4000 * 5.0, squares=4000 * (5.0**2 + 9.0))
    b = ArmStats("b", n=4000, total=4000 * 5.1, squares=4000 * (5.1**2 + 9.0))
    allocation = allocation_compute([a, b], likelihood="gaussian", floor=0.0, seed=1)

    expected = stats.norm.cdf(0.1 / math.sqrt(2 * 9.0 / 4000))
    assert abs(allocation.probabilities["b"] - expected) < MC_TOLERANCE + 0.002


def test_gaussian_is_unchanged_by_the_unit_of_value():
    rng = np.random.default_rng(2)
    euros = [gaussian_arm(key, rng.exponential(scale, 80)) for key, scale in zip("abc", (3.0, 3.4, 2.8), strict=True)]
    cents = [ArmStats(arm.key, arm.n, arm.total * 100, arm.squares * 10_000) for arm in euros]

    in_euros = allocation_compute(euros, likelihood="gaussian", seed=6).probabilities
    in_cents = allocation_compute(cents, likelihood="gaussian", seed=6).probabilities
    for key in "abc":
        assert in_cents[key] == pytest.approx(in_euros[key], abs=1e-9)


def test_gaussian_without_data_or_spread_is_uniform():
    assert allocation_compute([ArmStats("a"), ArmStats("b")], likelihood="gaussian").probabilities == {
        "a": 0.5,
        "b": 0.5,
    }
    constant = [ArmStats(key, n=10, total=0.0, squares=0.0) for key in "abc"]
    probabilities = allocation_compute(constant, likelihood="gaussian").probabilities
    assert list(probabilities.values()) == [pytest.approx(1 / 3)] * 3


# Discounting


def test_discount_fades_every_sum_by_the_factor_per_hour():
    arms = (ArmStats("a", n=100, total=10, squares=30), ArmStats("b", n=8, total=2, squares=2))
    faded = stats_discount(arms, 0.99, 24)

    weight = 0.99**24
    assert (faded[0].key, faded[0].n, faded[0].total, faded[0].squares) == pytest.approx(
        ("a", 100 * weight, 10 * weight, 30 * weight)
    )
    assert faded[1].n == pytest.approx(8 * weight)
    assert stats_discount(arms, 1.0, 1000) == arms
    assert stats_discount(arms, 0.5, 0) == arms


@pytest.mark.parametrize(("factor", "hours"), [(0.0, 1), (1.5, 1), (math.nan, 1), (0.9, -1), (0.9, math.inf)])
def test_discount_refuses_a_bad_factor_or_span(factor, hours):
    with pytest.raises(ValueError, match="factor|hours"):
        stats_discount([ArmStats("a", 1, 1)], factor, hours)


def test_discounted_evidence_lets_a_new_leader_through_sooner():
    # Old evidence says a; the last day says b. Faded, the old evidence weighs less and b gets more traffic.
    old = {"a": (2000, 300), "b": (2000, 200)}
    recent = {"a": (200, 20), "b": (200, 40)}

    def arms(weight: float) -> list[ArmStats]:
        return [
            ArmStats(key, n=old[key][0] * weight + recent[key][0], total=old[key][1] * weight + recent[key][1])
            for key in "ab"
        ]

    kept = allocation_compute(arms(1.0), floor=0.0, seed=0).probabilities["b"]
    faded = allocation_compute(arms(0.95**48), floor=0.0, seed=0).probabilities["b"]
    assert kept < 0.01 < 0.5 < faded


# Version


def test_version_is_given_or_derived_from_what_was_computed():
    arms = [bernoulli("a", 10, 2), bernoulli("b", 10, 3)]
    assert allocation_compute(arms, version="2026-12-03T22:00").version == "2026-12-03T22:00"
    derived = allocation_compute(arms).version
    assert derived
    assert derived == allocation_compute(arms).version
    assert derived != allocation_compute([bernoulli("a", 11, 2), bernoulli("b", 10, 3)]).version


# The policy


def allocation(**probabilities: float) -> Allocation:
    return Allocation(probabilities=probabilities, version="v1", method="closed-form", draws=0)


def policy(allocations: dict[str, Allocation], rules=()) -> BanditPolicy:
    return BanditPolicy(salt="home-hero", rules=tuple(rules), allocations=allocations.get)


def test_build_policy_knows_the_bandit():
    built = build_policy("bandit", slot_key="home-hero", default_key="a", allocations={"": allocation(a=1.0)}.get)
    assert isinstance(built, BanditPolicy)
    assert (built.name, built.version, built.model_version, built.salt) == ("bandit", "1", "", "home-hero")


def test_without_an_allocation_the_choice_is_uniform_and_unversioned():
    choice = policy({}).choose([Candidate("a"), Candidate("b")], Context(visitor_id="v"), random.Random(0))
    assert choice == Choice(choice.key, 0.5, "bandit", version="")


def test_same_visitor_same_version_same_arm_and_a_new_version_may_move_them():
    candidates = [Candidate(key) for key in "abc"]
    first = policy({"": allocation(a=0.2, b=0.5, c=0.3)})
    ids = visitor_ids(300)

    chosen = {vid: first.choose(candidates, Context(visitor_id=vid), random.Random(i)).key for i, vid in enumerate(ids)}
    again = {vid: first.choose(candidates, Context(visitor_id=vid), random.Random(-i)).key for i, vid in enumerate(ids)}
    assert chosen == again  # the random source is not used when there is a visitor id

    moved = dataclasses_replace_version(first, "v2")
    after = {vid: moved.choose(candidates, Context(visitor_id=vid), random.Random(0)).key for vid in ids}
    assert after != chosen  # re-drawn under the new allocation version
    assert all(moved.choose(candidates, Context(visitor_id=vid), random.Random(1)).version == "v2" for vid in ids[:5])


def dataclasses_replace_version(bandit: BanditPolicy, version: str) -> BanditPolicy:
    current = bandit.allocations("")
    assert current is not None
    renewed = Allocation(dict(current.probabilities), version, current.method, current.draws)
    return BanditPolicy(salt=bandit.salt, rules=bandit.rules, allocations={"": renewed}.get)


def test_anonymous_calls_use_the_random_source():
    bandit = policy({"": allocation(a=0.5, b=0.5)})
    keys = {bandit.choose([Candidate("a"), Candidate("b")], Context(), random.Random(seed)).key for seed in range(40)}
    assert keys == {"a", "b"}


@pytest.mark.parametrize("live", [("a", "b", "c", "d"), ("a", "c", "d"), ("d", "b")])
def test_propensity_is_the_share_of_visitors_given_each_arm(live):
    # The randomness is over visitors: over many visitor ids each arm's share must match the logged propensity,
    # also when some arms are not live for these visitors (capped or paused) and the rest are renormalized.
    bandit = policy({"": allocation(a=0.1, b=0.6, c=0.25, d=0.05)})
    candidates = [Candidate(key) for key in live]
    ids = visitor_ids(20_000, seed=21)
    choices = [bandit.choose(candidates, Context(visitor_id=vid), random.Random(0)) for vid in ids]

    counts = Counter(choice.key for choice in choices)
    propensities = {choice.key: choice.propensity for choice in choices}
    total = sum({"a": 0.1, "b": 0.6, "c": 0.25, "d": 0.05}[key] for key in live)
    for key in live:
        p = {"a": 0.1, "b": 0.6, "c": 0.25, "d": 0.05}[key] / total
        assert propensities[key] == pytest.approx(p)
        tolerance = 4 * math.sqrt(p * (1 - p) / len(ids))  # 4 binomial standard errors
        assert abs(counts[key] / len(ids) - p) < tolerance


def test_a_candidate_without_statistics_gets_the_mean_share():
    bandit = policy({"": allocation(a=0.7, b=0.3)})
    probabilities = bandit.probabilities([Candidate("a"), Candidate("b"), Candidate("new")], Context(visitor_id="v"))
    # The new variant counts as 1/2 (the allocation's mean share) before renormalizing: 0.7, 0.3, 0.5 over 1.5.
    assert probabilities == {"a": pytest.approx(0.7 / 1.5), "b": pytest.approx(0.3 / 1.5), "new": pytest.approx(1 / 3)}


def test_each_segment_has_its_own_bandit_and_the_rest_share_the_slots():
    allocations = {"": allocation(a=1.0, b=0.0), "mobile": allocation(a=0.0, b=1.0)}
    bandit = policy(allocations, rules=[(MOBILE, "b")])
    candidates = [Candidate("a"), Candidate("b")]

    on_mobile = bandit.choose(candidates, Context(visitor_id="v", device="mobile"), random.Random(0))
    on_desktop = bandit.choose(candidates, Context(visitor_id="v", device="desktop"), random.Random(0))
    assert (on_mobile.key, on_mobile.reason) == ("b", "bandit:mobile")
    assert (on_desktop.key, on_desktop.reason) == ("a", "bandit")
    assert bandit.segment_of(Context(device="mobile")) == "mobile"
    assert bandit.segment_of(Context(device="desktop")) == ""


def test_an_arm_with_zero_probability_is_never_chosen():
    bandit = policy({"": allocation(a=0.0, b=1.0)})
    ids = visitor_ids(2000)
    assert {
        bandit.choose([Candidate("a"), Candidate("b")], Context(visitor_id=v), random.Random(0)).key for v in ids
    } == {"b"}


def test_no_candidates_is_an_error():
    from personalization.engine import NoCandidatesError

    with pytest.raises(NoCandidatesError):
        policy({}).choose([], Context(), random.Random(0))


# Properties


arm_counts = st.lists(st.tuples(st.integers(0, 500), st.floats(0.0, 1.0)), min_size=1, max_size=5).map(
    lambda rows: [ArmStats(f"v{i}", n=float(n), total=float(round(n * share))) for i, (n, share) in enumerate(rows)]
)


@settings(max_examples=40, deadline=None)
@given(
    arms=arm_counts,
    floor=st.floats(0.0, 0.3),
    top_two=st.booleans(),
    likelihood=st.sampled_from(["bernoulli", "gaussian"]),
    live_mask=st.lists(st.booleans(), min_size=5, max_size=5),
    visitor=st.text(min_size=1, max_size=12),
)
def test_allocations_sum_to_one_respect_the_floor_and_renormalize(arms, floor, top_two, likelihood, live_mask, visitor):
    if likelihood == "gaussian":
        arms = [ArmStats(arm.key, arm.n, arm.total, arm.total) for arm in arms]  # 0/1 values: squares == total
    computed = allocation_compute(arms, likelihood=likelihood, floor=floor, top_two=top_two, seed=0)
    probabilities = computed.probabilities
    effective_floor = min(floor, 1 / len(arms))

    assert list(probabilities) == [arm.key for arm in arms]
    assert math.fsum(probabilities.values()) == pytest.approx(1.0, abs=1e-12)
    assert min(probabilities.values()) >= effective_floor - 1e-12

    live = [Candidate(arm.key) for arm, keep in zip(arms, live_mask, strict=False) if keep] or [Candidate(arms[0].key)]
    bandit = BanditPolicy(salt="s", allocations={"": computed}.get)
    restricted = bandit.probabilities(live, Context(visitor_id=visitor))
    assert math.fsum(restricted.values()) == pytest.approx(1.0, abs=1e-12)
    assert min(restricted.values()) >= effective_floor - 1e-12
    total = sum(probabilities[c.key] for c in live)
    for candidate in live:
        # Live arms that all have no share (floor 0, sure losers) leave nothing to prefer: uniform.
        expected = probabilities[candidate.key] / total if total > 0 else 1 / len(live)
        assert restricted[candidate.key] == pytest.approx(expected, abs=1e-12)
    choice = bandit.choose(live, Context(visitor_id=visitor), random.Random(0))
    assert choice.propensity == restricted[choice.key]
