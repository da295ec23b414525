"""Feature rows, schemas and matrices: one encoding for training and serving."""

import json
import math
import random

import numpy as np
import pytest

from personalization.engine.context import Context
from personalization.engine.featurize import (
    FeatureSchema,
    VariantFeatures,
    context_features,
    matrix,
    row_features,
    schema_fit,
    variant_columns,
    variant_features,
)

HERO_PARAMS = {
    "headline": "Save 20% on your first order?",
    "body": "<p>Fresh <strong>coffee</strong>&nbsp;delivered.</p>\n<p>Every week.</p>",
    "cta_label": "Shop now",
    "cta_url": "/shop/",
    "image": {"id": 3, "alt": "Beans"},
    "badge": "-20%",
    "position": "Right",
}


def full_context() -> Context:
    return Context.from_mapping(
        {
            "visitor_id": "v1",
            "device": "mobile",
            "browser": "Safari",
            "os": "iOS",
            "country": "nl",
            "referrer": "https://www.google.com/search?q=coffee",
            "utm_source": "newsletter",
            "utm_medium": "email",
            "utm_term": "beans",
            "hour": 14,
            "weekday": 2,
            "is_authenticated": True,
            "visit_count": 3,
            "attributes": {"plan": "pro", "age": 41, "tags": ["a", "b"], "vip": True, "nothing": None},
            "features": {"clicks_7d": 4, "dwell_avg": 12.5, "scroll_max": None},
        }
    )


# variant_features


def test_variant_features_derives_attributes_from_params():
    variant = variant_features("hero-a", "hero", HERO_PARAMS)

    assert variant.key == "hero-a"
    assert variant.template == "hero"
    attributes = dict(variant.attributes)
    assert attributes["has_badge"] == 1.0
    assert attributes["badge_is_discount"] == 1.0
    assert attributes["has_image"] == 1.0
    assert attributes["has_cta"] == 1.0
    assert attributes["headline_length"] == float(len("Save 20% on your first order?"))
    assert attributes["headline_has_number"] == 1.0
    assert attributes["headline_is_question"] == 1.0
    # Tags gone, entity decoded, whitespace collapsed: "Fresh coffee delivered. Every week."
    assert attributes["body_length"] == float(len("Fresh coffee delivered. Every week."))
    assert attributes["position"] == "right"
    assert all(isinstance(value, float) for name, value in attributes.items() if name != "position")


def test_variant_features_of_a_bare_variant():
    attributes = dict(variant_features("plain", "banner", {"headline": "Hello", "image": None}).attributes)

    assert attributes["has_badge"] == 0.0
    assert attributes["badge_is_discount"] == 0.0
    assert attributes["has_image"] == 0.0
    assert attributes["has_cta"] == 0.0
    assert attributes["body_length"] == 0.0
    assert "position" not in attributes


@pytest.mark.parametrize(
    ("badge", "discount"),
    [("-20%", 1.0), ("20% off", 1.0), ("\u221210 \u20ac", 1.0), ("Sign-up bonus", 0.0), ("New", 0.0), ("", 0.0)],
)
def test_badge_is_discount(badge, discount):
    assert variant_features("v", "t", {"badge": badge}).attributes["badge_is_discount"] == discount


def test_cta_needs_a_label_and_a_link():
    assert variant_features("v", "t", {"cta_label": "Go"}).attributes["has_cta"] == 0.0
    assert variant_features("v", "t", {"cta_url": "/x/"}).attributes["has_cta"] == 0.0


def test_variant_features_rejects_bad_input():
    with pytest.raises(ValueError, match="params must be a mapping"):
        variant_features("v", "t", ["headline"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty key"):
        variant_features("", "t", {})
    with pytest.raises(ValueError, match="must be a number or a string"):
        VariantFeatures("v", "t", {"tags": ["a"]})  # type: ignore[dict-item]


def test_variant_attributes_are_frozen_and_numbers_become_floats():
    source = {"has_badge": True, "count": 2}
    variant = VariantFeatures("v", "t", source)
    source["count"] = 99

    assert dict(variant.attributes) == {"has_badge": 1.0, "count": 2.0}
    with pytest.raises(TypeError):
        variant.attributes["count"] = 3.0  # type: ignore[index]


# row_features


def test_row_features_keys_and_types():
    variant = variant_features("hero-a", "hero", HERO_PARAMS)
    row = row_features(full_context(), variant)

    assert row["device"] == "mobile"
    assert row["browser"] == "Safari"
    assert row["os"] == "iOS"
    assert row["country"] == "NL"
    assert row["referrer_host"] == "www.google.com"
    assert (row["utm_source"], row["utm_medium"], row["utm_campaign"]) == ("newsletter", "email", None)
    assert "utm_term" not in row
    assert (row["hour"], row["weekday"], row["visit_count"]) == (14.0, 2.0, 3.0)
    assert (row["is_authenticated"], row["is_returning"]) == (1.0, 1.0)
    assert (row["f_clicks_7d"], row["f_dwell_avg"], row["f_scroll_max"]) == (4.0, 12.5, None)
    assert (row["a_plan"], row["a_age"], row["a_vip"], row["a_nothing"]) == ("pro", 41.0, 1.0, None)
    assert "a_tags" not in row  # lists have no single value to split on
    assert row["variant"] == "hero-a"
    assert row["template"] == "hero"
    assert row["v_has_badge"] == 1.0
    assert row["v_position"] == "right"
    for name, value in row.items():
        assert value is None or type(value) in (float, str), (name, value)


def test_row_features_missing_values_are_none():
    row = row_features(Context(), VariantFeatures("b", ""))

    assert row["device"] == "desktop"
    for name in ("browser", "os", "country", "referrer_host", "utm_source", "template"):
        assert row[name] is None, name
    assert row["is_authenticated"] == 0.0
    assert not any(name.startswith(("f_", "a_", "v_")) for name in row)


def test_row_features_is_the_merge_of_its_halves():
    context = full_context()
    variant = variant_features("hero-a", "hero", HERO_PARAMS)

    assert row_features(context, variant) == {**context_features(context), **variant_columns(variant)}


def test_a_context_rebuilt_from_its_log_snapshot_encodes_identically():
    """Training rebuilds contexts from the decision log's snapshot; serving uses the live one."""
    context = full_context()
    rebuilt = Context.from_mapping(json.loads(json.dumps(context.snapshot())))
    variant = variant_features("hero-a", "hero", HERO_PARAMS)
    serving, training = row_features(context, variant), row_features(rebuilt, variant)
    schema = schema_fit([serving, training])

    np.testing.assert_array_equal(matrix([serving], schema), matrix([training], schema))


# schema_fit


def test_schema_fit_splits_numeric_and_categorical_columns():
    rows = [
        {"device": "mobile", "hour": 3.0, "variant": "a", "empty": None},
        {"device": "desktop", "hour": None, "variant": "b"},
        {"device": None, "hour": 7.0, "variant": "a", "score": 1.5},
    ]
    schema = schema_fit(rows)

    assert schema.numeric == ("hour", "score")
    assert schema.categorical == {"device": ("desktop", "mobile"), "variant": ("a", "b")}
    assert schema.columns == ("hour", "score", "device", "variant")
    assert schema.categorical_indices == [2, 3]


def test_schema_fit_caps_vocabulary_at_the_most_frequent_values():
    rows = [{"country": "NL"}] * 5 + [{"country": "DE"}] * 4 + [{"country": "US"}] * 3 + [{"country": "FR"}]
    schema = schema_fit(rows, max_categories=2)

    assert schema.categorical["country"] == ("DE", "NL")
    with pytest.raises(ValueError, match="max_categories"):
        schema_fit(rows, max_categories=0)


def test_schema_fit_caps_at_200_by_default():
    rows = [{"referrer_host": f"site{i:04d}.example"} for i in range(500)] + [{"referrer_host": "zz.example"}] * 3
    vocabulary = schema_fit(rows).categorical["referrer_host"]

    assert len(vocabulary) == 200
    assert "zz.example" in vocabulary
    assert list(vocabulary) == sorted(vocabulary)


def test_a_mixed_column_is_categorical_by_string_value():
    rows = [{"plan": "pro"}, {"plan": 3.0}, {"plan": 3.0}]
    schema = schema_fit(rows)

    assert schema.categorical == {"plan": ("3.0", "pro")}
    np.testing.assert_array_equal(matrix(rows, schema)[:, 0], [1.0, 0.0, 0.0])


def test_schema_round_trip_through_json():
    rows = [row_features(full_context(), variant_features(k, "hero", HERO_PARAMS)) for k in ("a", "b")]
    schema = schema_fit(rows)
    restored = FeatureSchema.from_dict(json.loads(json.dumps(schema.to_dict())))

    assert restored == schema
    assert restored.columns == schema.columns
    np.testing.assert_array_equal(matrix(rows, restored), matrix(rows, schema))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "must be a mapping"),
        ({"numeric": "hour", "categorical": {}}, "'numeric' must be a list"),
        ({"numeric": [], "categorical": {"device": "mobile"}}, "'categorical' must map"),
        ({"numeric": ["device"], "categorical": {"device": ["mobile"]}}, "more than once"),
        ({"numeric": [], "categorical": {"device": ["a", "a"]}}, "duplicates"),
        ({"numeric": [], "categorical": {}, "format_version": 99}, "format_version"),
    ],
)
def test_schema_from_dict_rejects_malformed_input(data, message):
    with pytest.raises(ValueError, match=message):
        FeatureSchema.from_dict(data)


# matrix


def test_matrix_encodes_numbers_and_vocabulary_indexes():
    schema = FeatureSchema(numeric=("hour", "visit_count"), categorical={"device": ("desktop", "mobile", "tablet")})
    rows = [
        {"hour": 3.0, "visit_count": 1.0, "device": "tablet"},
        {"hour": None, "device": "mobile", "unrelated": "x"},
        {"hour": 5.0, "visit_count": 2.0, "device": "smart-fridge"},
        {"visit_count": "7", "device": None},
        {"hour": "late"},
    ]
    X = matrix(rows, schema)

    assert X.dtype == np.float64
    assert X.shape == (5, 3)
    expected = np.array(
        [
            [3.0, 1.0, 2.0],
            [math.nan, math.nan, 1.0],
            [5.0, 2.0, math.nan],  # a device never seen in training is missing, not a new index
            [math.nan, 7.0, math.nan],
            [math.nan, math.nan, math.nan],  # unparseable numbers are missing too
        ]
    )
    np.testing.assert_array_equal(X, expected)


def test_matrix_of_no_rows_and_no_columns():
    schema = FeatureSchema(numeric=("hour",), categorical={"device": ("mobile",)})

    assert matrix([], schema).shape == (0, 2)
    assert matrix([{"hour": 1.0}], FeatureSchema(numeric=(), categorical={})).shape == (1, 0)


def test_matrix_of_many_rows():
    """Sanity for the serving and training sizes; timings live in the benchmark, not here."""
    rng = random.Random(7)
    variants = [variant_features(k, "hero", {**HERO_PARAMS, "badge": b}) for k, b in (("a", ""), ("b", "-5%"))]
    base = [
        row_features(
            Context.from_mapping(
                {
                    "device": rng.choice(["desktop", "mobile", "tablet"]),
                    "country": rng.choice(["NL", "DE", "US"]),
                    "hour": rng.randrange(24),
                    "features": {"clicks_7d": rng.randrange(5)},
                }
            ),
            rng.choice(variants),
        )
        for _ in range(1_000)
    ]
    rows = base * 100
    schema = schema_fit(base)
    X = matrix(rows, schema)

    assert X.shape == (100_000, len(schema.columns))
    np.testing.assert_array_equal(X[:1_000], X[-1_000:])
    device = X[:, schema.columns.index("device")]
    assert not np.isnan(device).any()
    assert set(np.unique(device)) == {0.0, 1.0, 2.0}


def test_a_context_signature_survives_the_decision_log_round_trip():
    """The scoring worker signs a visitor's logged context; serving signs the request's: they must agree."""
    from personalization.engine.featurize import context_signature

    request = Context.from_mapping(
        {
            "device": "mobile",
            "referrer": "https://news.example.com/a",
            "utm_source": "newsletter",
            "hour": 9,
            "visit_count": 3,
            "attributes": {"plan": "pro", "city": None},
            "features": {"clicks_last_hour": 2.0},
        }
    )
    logged = Context.from_mapping(request.snapshot())
    assert context_signature(logged) == context_signature(request)
    assert context_signature(Context.from_mapping({**request.snapshot(), "features": {}})) == context_signature(request)
    for change in ({"device": "desktop"}, {"utm_source": "ads"}, {"hour": 10}, {"visit_count": 4}):
        assert context_signature(Context.from_mapping({**request.snapshot(), **change})) != context_signature(request)
