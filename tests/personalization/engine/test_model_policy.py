"""The model strategy: documented exploration formulas, honest propensities, greedy picks the truth."""

import math
import random
from collections import Counter

import numpy as np
import pytest

from personalization.engine import policies as policies_module
from personalization.engine.context import Context
from personalization.engine.featurize import VariantFeatures, row_features, schema_fit, variant_features
from personalization.engine.model_policy import ModelPolicy
from personalization.engine.policies import POLICY_FACTORIES, Candidate, NoCandidatesError, build_policy
from personalization.engine.reward_model import RewardModel, reward_model_train
from tests.personalization.engine.test_reward_model import BEST, KEYS, VARIANTS, random_context, synthetic_log

N_DRAWS = 20_000
TOLERANCE = 0.015  # ±1.5 percentage points


class FixedScores:
    """A stand-in reward model with known scores per variant key, recording the feature rows it was asked about.

    It reads the encoded matrix as a real model does, and decodes each row back to its features.
    """

    def __init__(self, scores: dict[str, float]) -> None:
        self.by_key = scores
        self.calls: list[list[dict]] = []
        contexts = [
            Context.from_mapping({"device": d, "country": c}) for d in ("mobile", "desktop") for c in ("NL", "DE")
        ]
        rows = [row_features(context, variant) for context in contexts for variant in VARIANTS.values()]
        self.schema = schema_fit([*rows, *({"variant": key} for key in scores)])

    def predict_matrix(self, X):
        rows = [self._decoded(values) for values in np.asarray(X, dtype=np.float64).tolist()]
        self.calls.append(rows)
        return np.array([self.by_key.get(row.get("variant"), 0.0) for row in rows])

    def _decoded(self, values: list[float]) -> dict:
        row: dict = {}
        for name, value in zip(self.schema.columns, values, strict=True):
            if math.isnan(value):
                continue
            vocabulary = self.schema.categorical.get(name)
            row[name] = vocabulary[int(value)] if vocabulary is not None else value
        return row


SCORES = {"A": 0.10, "B": 0.30, "C": 0.20, "D": 0.05}


def policy(scores=SCORES, **config) -> ModelPolicy:
    return ModelPolicy(model=FixedScores(scores), variants=VARIANTS, **config)  # type: ignore[arg-type]


def candidates(*keys: str) -> list[Candidate]:
    return [Candidate(key) for key in keys or KEYS]


def softmax_expected(scores: dict[str, float], rate: float, temperature: float) -> dict[str, float]:
    exponents = {key: math.exp(score / temperature) for key, score in scores.items()}
    total = sum(exponents.values())
    return {key: (1 - rate) * e / total + rate / len(scores) for key, e in exponents.items()}


@pytest.fixture(scope="module")
def model() -> RewardModel:
    rows, labels, _ = synthetic_log(20_000, seed=1)
    return reward_model_train(rows, labels, seed=0)[0]


# Formulas


@pytest.mark.parametrize("rate", [0.0, 0.1, 1.0])
def test_epsilon_greedy_probabilities(rate):
    probabilities = policy(exploration="epsilon", rate=rate).probabilities(candidates(), Context())

    assert list(probabilities) == list(KEYS)
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert probabilities["B"] == pytest.approx(1 - rate + rate / 4)
    for key in ("A", "C", "D"):
        assert probabilities[key] == pytest.approx(rate / 4)


@pytest.mark.parametrize("rate", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("temperature", [0.05, 1.0])
def test_softmax_probabilities_and_floor(rate, temperature):
    probabilities = policy(exploration="softmax", rate=rate, temperature=temperature).probabilities(
        candidates(), Context()
    )
    expected = softmax_expected(SCORES, rate, temperature)

    assert sum(probabilities.values()) == pytest.approx(1.0)
    for key in KEYS:
        assert probabilities[key] == pytest.approx(expected[key], rel=1e-12, abs=1e-15)
        assert probabilities[key] >= rate / 4 - 1e-15
    if rate < 1:
        assert max(probabilities, key=probabilities.__getitem__) == "B"


def test_softmax_survives_scores_that_would_overflow():
    probabilities = policy({"A": 900.0, "B": 1000.0}, exploration="softmax", rate=0.1, temperature=0.01).probabilities(
        candidates("A", "B"), Context()
    )

    assert probabilities == pytest.approx({"A": 0.05, "B": 0.95})


def test_epsilon_ties_go_to_the_smallest_key_whatever_the_order():
    tied = policy({"A": 0.1, "B": 0.3, "C": 0.3}, rate=0.3)

    for order in (("A", "B", "C"), ("C", "B", "A"), ("C", "A", "B")):
        probabilities = tied.probabilities(candidates(*order), Context())
        assert probabilities["B"] == pytest.approx(0.8)
        assert probabilities["C"] == pytest.approx(0.1)


def test_without_a_model_every_candidate_is_equally_likely():
    uniform = ModelPolicy(model=None, variants={}, exploration="softmax", rate=0.0)

    assert uniform.probabilities(candidates("a", "b", "c"), Context()) == pytest.approx(
        {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}
    )
    choice = uniform.choose(candidates("a", "b", "c"), Context(), random.Random(0))
    assert choice.reason == "uniform"
    assert choice.propensity == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="no model"):
        uniform.scores(candidates("a"), Context())


def test_only_live_candidates_share_the_probability():
    probabilities = policy(rate=0.2).probabilities(candidates("A", "C"), Context())

    assert probabilities == pytest.approx({"A": 0.1, "C": 0.9})


def test_a_duplicate_candidate_is_one_variant():
    probabilities = policy(rate=0.2).probabilities([Candidate("A"), Candidate("C"), Candidate("A")], Context())

    assert probabilities == pytest.approx({"A": 0.1, "C": 0.9})


# Scoring


def test_scores_predict_all_candidates_in_one_batch():
    scorer = FixedScores(SCORES)
    model_policy = ModelPolicy(model=scorer, variants=VARIANTS)  # type: ignore[arg-type]
    context = Context.from_mapping({"device": "mobile", "country": "NL"})

    assert model_policy.scores(candidates(), context) == SCORES
    assert len(scorer.calls) == 1
    assert [row["variant"] for row in scorer.calls[0]] == list(KEYS)
    assert all(row["device"] == "mobile" and row["country"] == "NL" for row in scorer.calls[0])


def test_a_candidate_missing_from_variants_is_scored_on_its_key_alone():
    scorer = FixedScores({"new": 0.9})
    model_policy = ModelPolicy(model=scorer, variants=VARIANTS)  # type: ignore[arg-type]

    assert model_policy.probabilities(candidates("A", "new"), Context())["new"] == pytest.approx(0.95)
    new_row = scorer.calls[0][1]
    assert new_row.get("template") is None  # missing: the decoded row holds only what was set
    assert not any(name.startswith("v_") for name in new_row)


def test_a_real_model_scores_a_variant_it_never_saw(model):
    model_policy = ModelPolicy(model=model, variants=VARIANTS)
    scores = model_policy.scores(candidates("A", "brand-new"), random_context(random.Random(0)))

    assert set(scores) == {"A", "brand-new"}
    assert all(0 < score < 1 for score in scores.values())


# choose


@pytest.mark.parametrize("exploration", ["epsilon", "softmax"])
def test_choose_reports_the_probability_of_its_choice(exploration):
    model_policy = policy(exploration=exploration, rate=0.4, temperature=0.1)
    probabilities = model_policy.probabilities(candidates(), Context())
    rng = random.Random(3)
    reasons = Counter()
    for _ in range(200):
        choice = model_policy.choose(candidates(), Context(), rng)
        assert choice.propensity == probabilities[choice.key]
        assert choice.reason == ("model" if choice.key == "B" else "explore")
        reasons[choice.reason] += 1
    assert set(reasons) == {"model", "explore"}


def test_choose_uses_exactly_one_draw():
    rng, reference = random.Random(11), random.Random(11)
    policy(exploration="softmax").choose(candidates(), Context(), rng)
    reference.random()

    assert rng.random() == reference.random()


def test_choose_without_candidates_fails():
    with pytest.raises(NoCandidatesError):
        policy().choose([], Context(), random.Random(0))


def test_greedy_picks_the_true_best_variant_per_device(model):
    greedy = ModelPolicy(model=model, variants=VARIANTS, rate=0.0)
    rng = random.Random(21)
    contexts = [random_context(rng) for _ in range(600)]
    right = 0
    for context in contexts:
        choice = greedy.choose(candidates(), context, rng)
        assert choice.propensity == 1.0
        assert choice.reason == "model"
        right += choice.key == BEST[context.device]

    assert right / len(contexts) >= 0.9


@pytest.mark.parametrize(
    ("exploration", "rate", "temperature"), [("softmax", 0.1, 0.05), ("epsilon", 0.3, 0.05)], ids=["softmax", "epsilon"]
)
def test_empirical_choice_frequencies_match_propensities(model, exploration, rate, temperature):
    model_policy = ModelPolicy(
        model=model, variants=VARIANTS, exploration=exploration, rate=rate, temperature=temperature
    )
    context = Context.from_mapping({"device": "tablet", "country": "DE", "hour": 9, "features": {"scroll_depth": 0.5}})
    probabilities = model_policy.probabilities(candidates(), context)
    assert sum(probabilities.values()) == pytest.approx(1.0)
    assert min(probabilities.values()) >= rate / len(KEYS) - 1e-12

    rng = random.Random(20240501)
    counts = Counter()
    for _ in range(N_DRAWS):
        choice = model_policy.choose(candidates(), context, rng)
        assert choice.propensity == probabilities[choice.key]
        counts[choice.key] += 1

    for key in KEYS:
        assert counts[key] / N_DRAWS == pytest.approx(probabilities[key], abs=TOLERANCE), key


# Validation and registry


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"exploration": "ucb"}, "Unknown exploration"),
        ({"rate": -0.1}, "rate"),
        ({"rate": 1.5}, "rate"),
        ({"rate": math.nan}, "rate"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": math.inf}, "temperature"),
    ],
)
def test_invalid_configuration_is_refused(config, message):
    with pytest.raises(ValueError, match=message):
        ModelPolicy(model=None, variants={}, **config)


def test_variants_must_be_keyed_by_their_own_key():
    with pytest.raises(ValueError, match="VariantFeatures of variant"):
        ModelPolicy(model=None, variants={"A": VariantFeatures("B", "hero")})


def test_build_policy_builds_a_model_policy(model):
    assert "model" in POLICY_FACTORIES
    built = build_policy(
        "model",
        model=model,
        variants=VARIANTS,
        exploration="softmax",
        rate=0.2,
        temperature=0.1,
        model_version="v7",
        slot_key="hero",  # services pass every strategy the same config; extras are ignored
        default_key="A",
    )

    assert isinstance(built, ModelPolicy)
    assert (built.name, built.version) == ("model", "1")
    assert (built.exploration, built.rate, built.temperature, built.model_version) == ("softmax", 0.2, 0.1, "v7")
    assert dict(built.variants) == VARIANTS
    assert policies_module.build_policy("model", variants=list(VARIANTS.values())).variants == built.variants
    choice = built.choose(candidates(), random_context(random.Random(1)), random.Random(1))
    assert choice.key in KEYS


def test_build_policy_without_a_model_is_uniform():
    built = build_policy("model", variants=[variant_features("a", "hero", {})])

    assert built.choose(candidates("a", "b"), Context(), random.Random(0)).propensity == pytest.approx(0.5)
