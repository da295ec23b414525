"""The model strategy's inverse-gap weighting (SquareCB) and its sticky, still exact, exploration."""

import random
import uuid
from collections import Counter

import pytest

from personalization.engine.context import Context
from personalization.engine.model_policy import ModelPolicy
from personalization.engine.policies import Candidate, build_policy
from tests.personalization.engine.test_model_policy import SCORES, FixedScores, candidates, policy
from tests.personalization.engine.test_reward_model import VARIANTS


def igw_expected(scores: dict[str, float], gamma: float, rate: float) -> dict[str, float]:
    k, top = len(scores), max(scores.values())
    best = min(key for key, score in scores.items() if score == top)
    shares = {key: max(1 / (k + gamma * (top - score)), rate / k) for key, score in scores.items() if key != best}
    return {**shares, best: 1 - sum(shares.values())}


@pytest.mark.parametrize("gamma", [0.0, 10.0, 100.0, 1000.0])
@pytest.mark.parametrize("rate", [0.0, 0.1])
def test_igw_probabilities_follow_the_formula_and_sum_to_one(gamma, rate):
    probabilities = policy(exploration="igw", gamma=gamma, rate=rate).probabilities(candidates(), Context())

    assert sum(probabilities.values()) == pytest.approx(1.0)
    expected = igw_expected(SCORES, gamma, rate)
    for key, value in expected.items():
        assert probabilities[key] == pytest.approx(value, rel=1e-12)


def test_igw_gives_the_best_most_and_explores_in_order_of_the_gap():
    # SCORES: B 0.30 (best), C 0.20, A 0.10, D 0.05: the smaller the gap, the more it is explored.
    probabilities = policy(exploration="igw", gamma=50.0, rate=0.0).probabilities(candidates(), Context())

    assert probabilities["B"] > 0.5
    assert probabilities["B"] > probabilities["C"] > probabilities["A"] > probabilities["D"] > 0
    assert probabilities["C"] == pytest.approx(1 / (4 + 50 * 0.10))


def test_igw_concentrates_as_gamma_grows_and_is_uniform_at_zero():
    spread = [
        policy(exploration="igw", gamma=gamma, rate=0.0).probabilities(candidates(), Context())["B"]
        for gamma in (0.0, 10.0, 100.0, 1000.0)
    ]
    assert spread[0] == pytest.approx(0.25)
    assert spread == sorted(spread)
    assert spread[-1] > 0.98


def test_igw_floor_keeps_every_variant_at_rate_over_k():
    probabilities = policy(exploration="igw", gamma=10_000.0, rate=0.2).probabilities(candidates(), Context())

    for key in ("A", "C", "D"):
        assert probabilities[key] == pytest.approx(0.05)
    assert probabilities["B"] == pytest.approx(0.85)


def test_igw_with_tied_best_scores_treats_the_tie_fairly():
    tied = policy({"A": 0.2, "B": 0.2, "C": 0.1}, exploration="igw", gamma=100.0, rate=0.0)
    probabilities = tied.probabilities(candidates("A", "B", "C"), Context())

    assert probabilities["C"] == pytest.approx(1 / (3 + 100 * 0.1))
    assert probabilities["A"] == pytest.approx(probabilities["B"]) == pytest.approx((1 - probabilities["C"]) / 2)
    assert sum(probabilities.values()) == pytest.approx(1.0)


def test_unknown_gamma_is_refused():
    with pytest.raises(ValueError, match="gamma"):
        policy(exploration="igw", gamma=-1.0)


def test_the_factory_takes_gamma_and_the_slot_key_as_salt():
    built = build_policy(
        "model", slot_key="home-hero", model=FixedScores(SCORES), variants=VARIANTS, exploration="igw", gamma=7.0
    )
    assert isinstance(built, ModelPolicy)
    assert (built.salt, built.gamma, built.exploration) == ("home-hero", 7.0, "igw")


# Sticky exploration


def sticky(model_version: str = "3", salt: str = "home-hero", **config) -> ModelPolicy:
    config = {"exploration": "igw", "gamma": 10.0, "rate": 0.1, **config}
    return ModelPolicy(model=FixedScores(SCORES), variants=VARIANTS, model_version=model_version, salt=salt, **config)


def test_a_visitor_keeps_the_variant_on_every_reload_whatever_the_random_source():
    chosen = sticky()
    for n in range(200):
        visitor = str(uuid.UUID(int=random.Random(n).getrandbits(128), version=4))
        context = Context(visitor_id=visitor)
        keys = {chosen.choose(candidates(), context, random.Random(seed)).key for seed in range(20)}
        assert len(keys) == 1, visitor


def test_a_new_model_version_or_another_slot_draws_again():
    visitors = [Context(visitor_id=str(uuid.uuid4())) for _ in range(2000)]
    rng = random.Random(0)
    first = [sticky("3").choose(candidates(), c, rng).key for c in visitors]
    again = [sticky("3").choose(candidates(), c, rng).key for c in visitors]
    newer = [sticky("4").choose(candidates(), c, rng).key for c in visitors]
    other_slot = [sticky("3", salt="cta-banner").choose(candidates(), c, rng).key for c in visitors]

    assert first == again
    # With about half of the visitors exploring, a fresh draw moves a good share of them.
    assert sum(a != b for a, b in zip(first, newer, strict=True)) > 200
    assert sum(a != b for a, b in zip(first, other_slot, strict=True)) > 200


@pytest.mark.parametrize("exploration", ["igw", "epsilon"])
def test_sticky_choices_over_many_visitors_match_the_logged_propensities(exploration):
    chosen = sticky(exploration=exploration)
    probabilities = chosen.probabilities(candidates(), Context())
    n = 10_000
    counts: Counter[str] = Counter()
    rng = random.Random(5)
    for _i in range(n):
        choice = chosen.choose(
            candidates(), Context(visitor_id=str(uuid.UUID(int=rng.getrandbits(128), version=4))), rng
        )
        assert choice.propensity == pytest.approx(probabilities[choice.key])
        counts[choice.key] += 1
    for key, probability in probabilities.items():
        # 4 standard errors of a share from 10,000 draws: at most 0.02.
        assert counts[key] / n == pytest.approx(
            probability, abs=4 * (probability * (1 - probability) / n) ** 0.5 + 1e-9
        )


def test_an_anonymous_context_still_draws_from_the_random_source():
    chosen = sticky()
    keys = {chosen.choose(candidates(), Context(), random.Random(seed)).key for seed in range(100)}
    assert len(keys) > 1


def test_sticky_choice_ignores_candidates_order_of_weights():
    chosen = sticky()
    context = Context(visitor_id=str(uuid.uuid4()))
    weighted = [Candidate(key, weight=9.0) for key in ("A", "B", "C", "D")]
    assert (
        chosen.choose(weighted, context, random.Random(1)).key
        == chosen.choose(candidates(), context, random.Random(2)).key
    )
