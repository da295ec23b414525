"""Batch scoring: ``score_matrix`` builds exactly the matrix of per-pair feature rows, and
``RewardModel.score`` and a ``ModelPolicy`` (which keeps its variants' half encoded) give
exactly the per-pair predictions, visitor-major."""

import random

import numpy as np
import pytest

from personalization.engine.context import Context
from personalization.engine.featurize import (
    FeatureSchema,
    VariantFeatures,
    matrix,
    row_features,
    schema_fit,
    score_matrix,
    variant_features,
)
from personalization.engine.model_policy import ModelPolicy
from personalization.engine.policies import Candidate
from personalization.engine.reward_model import RewardModel, reward_model_train
from tests.personalization.engine.test_reward_model import KEYS, VARIANTS, random_context, synthetic_log

# Strings a numeric column may meet at serving time: parseable, not, and not finite.
ODD_NUMBERS = ["3.5", " 7 ", "abc", "", "nan", "1e500", "-inf", "1_000"]


def messy_context(rng: random.Random) -> Context:
    """A visitor with a bit of everything: unseen labels, missing values, strings where numbers were."""

    def maybe(value):
        return value if rng.random() < 0.7 else None

    return Context.from_mapping(
        {
            "device": rng.choice(["desktop", "mobile", "tablet", "bot", "fridge"]),
            "browser": maybe(rng.choice(["Chrome", "Firefox", "Safari", "Lynx", f"b{rng.randrange(50)}"])),
            "os": maybe(rng.choice(["Linux", "iOS", "Android", "Plan 9"])),
            "country": maybe(rng.choice(["nl", "de", "us", "fr", "jp", "br"])),
            "referrer": maybe(rng.choice(["https://www.google.com/x", "https://news.example.org/", "not a url"])),
            "utm_source": maybe(rng.choice(["newsletter", "search", "twitter", f"s{rng.randrange(30)}"])),
            "utm_medium": maybe(rng.choice(["email", "cpc"])),
            "hour": rng.randrange(24),
            "weekday": rng.randrange(7),
            "is_authenticated": rng.random() < 0.3,
            "visit_count": rng.randrange(1, 9),
            "attributes": {
                # plan is categorical in training; a number here is looked up by its str().
                "plan": rng.choice(["free", "pro", "team", 1, 2.0, None, True]),
                "age": maybe(rng.choice([rng.randrange(18, 80), "unknown", "42"])),
                "tags": ["a", "b"],
            },
            "features": {
                "clicks_7d": rng.choice([rng.randrange(10), None, float("nan"), float("inf")]),
                "dwell": rng.choice([round(rng.random() * 30, 3), *ODD_NUMBERS, None]),
                # only some visitors have it: the column is sometimes absent, not just None
                **({"scroll": rng.random()} if rng.random() < 0.5 else {}),
            },
        }
    )


def messy_variants(rng: random.Random, count: int) -> list[VariantFeatures]:
    """Variants whose attribute sets differ: some lack a column, some set it to an unseen value."""
    variants = []
    for i in range(count):
        attributes: dict[str, float | str] = {"headline_length": float(rng.randrange(5, 60))}
        if rng.random() < 0.6:
            attributes["position"] = rng.choice(["left", "right", "top", "floating"])
        if rng.random() < 0.5:
            attributes["has_badge"] = rng.random() < 0.5
        if rng.random() < 0.3:
            attributes["weight"] = rng.choice(ODD_NUMBERS)  # a string in a numeric column
        key = rng.choice(["A", "B", "C", "D", f"new-{i}"])
        variants.append(
            VariantFeatures(key=f"{key}-{i}" if rng.random() < 0.3 else key, template="hero", attributes=attributes)
        )
    return variants


def schema_for(rng: random.Random, max_categories: int) -> FeatureSchema:
    """A schema fitted on other visitors and variants, with small vocabularies, so many values are unseen."""
    rows = [row_features(messy_context(rng), variant) for variant in messy_variants(rng, 6) for _ in range(40)]
    for row in rows:
        # Train with numbers where serving sends odd strings, and labels where serving sends numbers.
        row["f_dwell"] = rng.random() * 30
        row["v_weight"] = rng.random()
        row["a_plan"] = rng.choice(["free", "pro", "1.0"])
    return schema_fit(rows, max_categories=max_categories)


def per_pair(contexts, variants, schema) -> np.ndarray:
    return matrix([row_features(c, v) for c in contexts for v in variants], schema)


@pytest.mark.parametrize("seed", range(8))
def test_score_matrix_equals_the_matrix_of_per_pair_rows(seed):
    rng = random.Random(seed)
    schema = schema_for(rng, max_categories=rng.choice([2, 5, 200]))
    contexts = [messy_context(rng) for _ in range(rng.randrange(1, 60))]
    variants = messy_variants(rng, rng.randrange(1, 7))

    expected = per_pair(contexts, variants, schema)
    got = score_matrix(contexts, variants, schema)

    assert got.shape == expected.shape == (len(contexts) * len(variants), len(schema.columns))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)  # NaN where NaN, every other cell identical
    # The data really did hold unknown categories, missing values and odd strings.
    assert np.isnan(expected).any()


def test_score_matrix_is_visitor_major():
    schema = schema_fit([row_features(Context(device=d), VARIANTS[k]) for d in ("desktop", "mobile") for k in KEYS])
    contexts = [Context(device="mobile"), Context(device="desktop"), Context(device="mobile")]
    out = score_matrix(contexts, list(VARIANTS.values()), schema)

    device = out[:, schema.columns.index("device")]
    variant = out[:, schema.columns.index("variant")]
    codes = schema.categorical
    assert device.tolist() == [codes["device"].index(c.device) for c in contexts for _ in KEYS]
    assert variant.tolist() == [codes["variant"].index(k) for _ in contexts for k in KEYS]


def test_score_matrix_with_a_schema_of_only_variant_or_only_visitor_columns():
    contexts = [Context(device="mobile", hour=3), Context(device="tablet", hour=22)]
    variants = list(VARIANTS.values())
    for schema in (
        FeatureSchema(numeric=("v_has_badge",), categorical={"variant": ("A", "B")}),
        FeatureSchema(numeric=("hour",), categorical={"device": ("mobile",)}),
        FeatureSchema(numeric=("not_a_feature",), categorical={}),
        FeatureSchema(numeric=(), categorical={}),
    ):
        np.testing.assert_array_equal(score_matrix(contexts, variants, schema), per_pair(contexts, variants, schema))


@pytest.mark.parametrize(("n_contexts", "n_variants"), [(0, 4), (3, 0), (0, 0)])
def test_score_matrix_of_nothing_is_empty(n_contexts, n_variants):
    schema = FeatureSchema(numeric=("hour",), categorical={"variant": ("A",)})
    out = score_matrix([Context()] * n_contexts, list(VARIANTS.values())[:n_variants], schema)
    assert out.shape == (0, 2)
    assert out.dtype == np.float64


@pytest.fixture(scope="module")
def model() -> RewardModel:
    rows, labels, _ = synthetic_log(3_000, seed=3)
    return reward_model_train(rows, labels, seed=0, num_boost_round=40)[0]


def test_score_gives_the_per_pair_predictions_as_visitors_by_variants(model):
    rng = random.Random(4)
    contexts = [random_context(rng) for _ in range(200)] + [messy_context(rng) for _ in range(50)]
    variants = [*VARIANTS.values(), variant_features("E", "hero", {"headline": "New!", "position": "top"})]

    scores = model.score(contexts, variants)

    assert scores.shape == (len(contexts), len(variants))
    expected = model.predict([row_features(c, v) for c in contexts for v in variants]).reshape(scores.shape)
    np.testing.assert_array_equal(scores, expected)
    # One context, scored alone, gets the same row as in the batch.
    np.testing.assert_array_equal(model.score(contexts[7:8], variants)[0], scores[7])


def test_score_of_no_visitors_or_no_variants(model):
    assert model.score([], list(VARIANTS.values())).shape == (0, len(VARIANTS))
    assert model.score([Context()], []).shape == (1, 0)


def test_a_model_policy_scores_each_visitor_as_the_per_pair_rows_do(model):
    """The policy keeps its variants' encoding between visitors; every visitor still gets the per-pair scores."""
    rng = random.Random(5)
    contexts = [random_context(rng) for _ in range(100)] + [messy_context(rng) for _ in range(30)]
    variants = {**VARIANTS, "E": variant_features("E", "hero", {"headline": "New!", "position": "top"})}
    policy = ModelPolicy(model=model, variants=variants)
    subsets = [list(variants), ["E", "A"], list(variants)[1:]]  # a capped variant leaves another set of candidates

    for i, context in enumerate(contexts):
        keys = subsets[i % len(subsets)]
        got = policy.scores([Candidate(key) for key in keys], context)
        expected = model.predict([row_features(context, variants[key]) for key in keys])
        np.testing.assert_array_equal([got[key] for key in keys], expected)
