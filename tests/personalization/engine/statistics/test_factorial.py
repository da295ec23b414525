"""Factorial experiments: the combinations served, and the analysis checked against statsmodels on visitor rows."""

import itertools
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.anova import anova_lm

from personalization.engine.statistics import VariantSums
from personalization.engine.statistics.factorial import (
    MAX_COMBINATIONS,
    FactorialCell,
    combinations_from_factors,
    factorial_analysis,
    factorial_words,
)

SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")

# ---------------------------------------------------------------- combinations


levels_strategy = st.lists(
    st.one_of(st.text(min_size=0, max_size=12), st.integers(-5, 5)), min_size=2, max_size=4, unique_by=json.dumps
)
factors_strategy = st.dictionaries(
    st.text(alphabet="abcdefghij_", min_size=1, max_size=8), levels_strategy, min_size=1, max_size=3
)


@settings(max_examples=150, deadline=None)
@given(factors=factors_strategy)
def test_combinations_are_every_product_with_unique_stable_slug_keys(factors):
    combinations = combinations_from_factors(factors, {"image": 7, "headline": "base"})

    assert len(combinations) == math.prod(len(levels) for levels in factors.values())
    keys = [c.key for c in combinations]
    assert len(set(keys)) == len(keys)
    assert all(SLUG.match(key) and len(key) <= 64 for key in keys)
    assert [tuple(c.levels.values()) for c in combinations] == list(itertools.product(*factors.values()))
    for c in combinations:
        assert c.params == {"image": 7, "headline": "base", **c.levels}
    # The first combination is every factor at its first level: the baseline.
    assert combinations[0].levels == {name: levels[0] for name, levels in factors.items()}
    # Stable: the same levels give the same key whatever the order of the factors or of their levels.
    reordered = {name: list(reversed(levels)) for name, levels in reversed(list(factors.items()))}
    by_levels = {json.dumps(sorted(c.levels.items())): c.key for c in combinations}
    for c in combinations_from_factors(reordered):
        assert by_levels[json.dumps(sorted(c.levels.items()))] == c.key


def test_adding_a_level_keeps_the_existing_keys():
    before = combinations_from_factors({"headline": ["Save 10%", "Free shipping"], "cta_label": ["Buy", "Shop now"]})
    after = combinations_from_factors(
        {"headline": ["Save 10%", "Free shipping", "New in"], "cta_label": ["Buy", "Shop now"]}
    )
    assert {c.key for c in before} <= {c.key for c in after}


def test_too_many_combinations_names_the_factor():
    factors = {"headline": list("abcd"), "cta_label": list("abcd"), "image": list("abcde")}
    with pytest.raises(ValueError, match=r"factors\['image'\].*more than 64 combinations"):
        combinations_from_factors(factors)
    assert len(combinations_from_factors(factors, max_combinations=80)) == 80
    assert MAX_COMBINATIONS == 64


@pytest.mark.parametrize(
    ("factors", "message"),
    [
        ({}, "at least one factor"),
        ({"headline": ["only"]}, r"factors\['headline'\]: needs at least 2 levels"),
        ({"headline": "ab"}, r"factors\['headline'\]: must be a list of levels"),
        ({"headline": ["a", "a"]}, r"factors\['headline'\]: the level 'a' is listed twice"),
        ({"headline": ["a", None]}, r"factors\['headline'\]: a level must be text or a number"),
        ({"headline": [1.0, float("nan")]}, r"factors\['headline'\]: a level must be finite"),
        ({"": ["a", "b"]}, "non-empty string"),
    ],
)
def test_bad_factors_are_named(factors, message):
    with pytest.raises(ValueError, match=message):
        combinations_from_factors(factors)


def test_bad_prefix_is_refused():
    with pytest.raises(ValueError, match="prefix"):
        combinations_from_factors({"a": ["x", "y"]}, prefix="no spaces")
    assert combinations_from_factors({"a": ["x", "y"]}, prefix="exp1")[0].key.startswith("exp1-")


# ---------------------------------------------------------------- the analysis against statsmodels


def simulate_cells(factors, means, sds, sizes, rng, *, kind):
    """Visitor rows per combination, and the same visitors summed into cells."""
    rows, cells = [], []
    for i, levels in enumerate(itertools.product(*factors.values())):
        named = dict(zip(factors, levels, strict=True))
        if kind == "rate":
            y = (rng.random(sizes[i]) < means[i]).astype(float)
        else:
            y = rng.normal(means[i], sds[i], size=sizes[i])
        rows.extend({**named, "y": value} for value in y)
        cells.append(FactorialCell(named, VariantSums(f"cell-{i}", sizes[i], float(y.sum()), float((y * y).sum()))))
    return pd.DataFrame(rows), cells


def simple_design(frame, factors):
    """The simple-coded design on visitor rows, built from its definition (dummy − 1/k), named like the terms."""
    columns = {"Intercept": np.ones(len(frame))}
    names = list(factors)
    per_factor = []
    for name in names:
        levels = factors[name]
        k = len(levels)
        per_factor.append(
            [(None, np.ones(len(frame)))]
            + [(f"{name}[{level}]", (frame[name] == level).to_numpy(float) - 1.0 / k) for level in levels[1:]]
        )
    for combination in itertools.product(*per_factor):
        labels = [label for label, _ in combination if label is not None]
        if not labels:
            continue
        columns[":".join(labels)] = np.prod([column for _, column in combination], axis=0)
    return pd.DataFrame(columns)


CASES = {
    "2x2": {"headline": ["Save 10%", "Free shipping"], "cta_label": ["Buy", "Shop now"]},
    "2x3": {"headline": ["Save 10%", "Free shipping"], "image": ["sofa", "lamp", "rug"]},
    "2x2x2": {"headline": ["Save 10%", "Free shipping"], "cta_label": ["Buy", "Shop now"], "image": ["sofa", "lamp"]},
}


@pytest.mark.parametrize("kind", ["mean", "rate"])
@pytest.mark.parametrize("case", list(CASES))
def test_terms_match_statsmodels_ols_on_visitor_rows(case, kind):
    factors = CASES[case]
    rng = np.random.default_rng(len(case) + (kind == "rate"))
    cells_count = math.prod(len(levels) for levels in factors.values())
    sizes = rng.integers(150, 400, size=cells_count).tolist()  # unbalanced, as real traffic is
    means = rng.uniform(0.1, 0.4, size=cells_count) if kind == "rate" else rng.normal(2.0, 1.0, size=cells_count)
    frame, cells = simulate_cells(factors, means, rng.uniform(0.5, 2.0, cells_count), sizes, rng, kind=kind)

    analysis = factorial_analysis(cells, factors, kind=kind)

    design = simple_design(frame, factors)
    fit = sm.OLS(frame["y"].to_numpy(), design).fit()
    assert analysis.intercept == pytest.approx(fit.params["Intercept"], rel=1e-8)
    assert analysis.df_residual == fit.df_resid
    assert analysis.residual_variance == pytest.approx(fit.scale, rel=1e-8)
    assert sorted(t.name for t in analysis.terms) == sorted(design.columns[1:])
    # Main effects first, in the factors' order, then the interactions.
    assert [t.levels[0].factor for t in analysis.main_effects()] == [
        name for name, levels in factors.items() for _ in levels[1:]
    ]
    assert [t.order for t in analysis.terms] == sorted(t.order for t in analysis.terms)
    intervals = fit.conf_int(0.05)
    for term in analysis.terms:
        assert term.estimable
        assert term.estimate == pytest.approx(fit.params[term.name], rel=1e-8, abs=1e-12)
        assert term.standard_error == pytest.approx(fit.bse[term.name], rel=1e-8)
        assert term.p_value == pytest.approx(fit.pvalues[term.name], rel=1e-8)
        assert term.ci95 == pytest.approx(tuple(intervals.loc[term.name]), rel=1e-8)

    # The interaction F-test is the partial F-test of the main-effects model against the full
    # factorial, as statsmodels' formula API with treatment coding fits them (the same models).
    terms = [f"C({name}, Treatment)" for name in factors]
    full = smf.ols("y ~ " + " * ".join(terms), data=frame).fit()
    main = smf.ols("y ~ " + " + ".join(terms), data=frame).fit()
    table = anova_lm(main, full)
    test = analysis.interactions
    assert test.df_numerator == table["df_diff"][1]
    assert test.df_denominator == full.df_resid
    assert test.f_statistic == pytest.approx(table["F"][1], rel=1e-8)
    assert test.p_value == pytest.approx(table["Pr(>F)"][1], rel=1e-8)


@pytest.mark.parametrize("case", list(CASES))
def test_hc2_terms_and_wald_test_match_statsmodels(case):
    """Revenue whose spread differs between combinations: HC2 standard errors and the robust Wald F-test."""
    factors = CASES[case]
    rng = np.random.default_rng(7 + len(case))
    cells_count = math.prod(len(levels) for levels in factors.values())
    sizes = rng.integers(80, 300, size=cells_count).tolist()
    frame, cells = simulate_cells(
        factors, rng.normal(3.0, 1.0, cells_count), rng.uniform(0.5, 6.0, cells_count), sizes, rng, kind="mean"
    )

    analysis = factorial_analysis(cells, factors, kind="mean", covariance="hc2")

    design = simple_design(frame, factors)
    fit = sm.OLS(frame["y"].to_numpy(), design).fit(cov_type="HC2", use_t=True)
    intervals = fit.conf_int(0.05)
    for term in analysis.terms:
        assert term.estimate == pytest.approx(fit.params[term.name], rel=1e-8, abs=1e-12)
        assert term.standard_error == pytest.approx(fit.bse[term.name], rel=1e-8)
        assert term.p_value == pytest.approx(fit.pvalues[term.name], rel=1e-8)
        assert term.ci95 == pytest.approx(tuple(intervals.loc[term.name]), rel=1e-8)
    interactions = [i for i, name in enumerate(design.columns) if ":" in name]
    wald = fit.wald_test(np.eye(len(design.columns))[interactions], use_f=True, scalar=True)
    assert analysis.covariance == "hc2"
    assert analysis.interactions.f_statistic == pytest.approx(float(wald.statistic), rel=1e-8)
    assert analysis.interactions.p_value == pytest.approx(float(wald.pvalue), rel=1e-8)
    assert analysis.interactions.df_numerator == len(interactions)
    # The classical fit of the same data differs: the spreads are unequal on purpose.
    classical = factorial_analysis(cells, factors, kind="mean")
    assert classical.terms[0].standard_error != pytest.approx(analysis.terms[0].standard_error, rel=1e-3)


def test_hc2_needs_two_visitors_in_each_combination_it_reads():
    factors = CASES["2x2"]
    counts = [1, 50, 50, 50]
    cells = [
        FactorialCell(dict(zip(factors, levels, strict=True)), VariantSums(f"c{i}", k, 2.0 * k, 5.0 * k))
        for i, (levels, k) in enumerate(zip(itertools.product(*factors.values()), counts, strict=True))
    ]
    analysis = factorial_analysis(cells, factors, kind="mean", covariance="hc2")
    assert all(t.estimate is not None and t.standard_error is None for t in analysis.terms)
    assert analysis.interactions.p_value is None
    assert analysis.interactions.reason == "every combination needs at least 2 visitors"
    assert_json_safe(analysis)
    with pytest.raises(ValueError, match="covariance"):
        factorial_analysis(cells, factors, kind="mean", covariance="hc3")


def test_main_effect_is_the_level_contrast_averaged_over_the_other_factor():
    """What an editor reads: 'Free shipping' vs 'Save 10%', averaged over both call-to-action labels."""
    factors = CASES["2x2"]
    means = {("Save 10%", "Buy"): 0.05, ("Save 10%", "Shop now"): 0.07, ("Free shipping", "Buy"): 0.08}
    means[("Free shipping", "Shop now")] = 0.06
    cells = [
        FactorialCell({"headline": h, "cta_label": c}, VariantSums(f"{h}{c}", 10000, 10000 * rate))
        for (h, c), rate in means.items()
    ]
    analysis = factorial_analysis(cells, factors, kind="rate")
    by_name = {t.name: t for t in analysis.terms}
    assert by_name["headline[Free shipping]"].estimate == pytest.approx(((0.08 - 0.05) + (0.06 - 0.07)) / 2)
    assert by_name["cta_label[Shop now]"].estimate == pytest.approx(((0.07 - 0.05) + (0.06 - 0.08)) / 2)
    assert by_name["headline[Free shipping]:cta_label[Shop now]"].estimate == pytest.approx(
        (0.06 - 0.07) - (0.08 - 0.05)
    )
    assert analysis.intercept == pytest.approx(0.065)


# ---------------------------------------------------------------- thin data: reported, never raised


def assert_json_safe(analysis):
    text = json.dumps(analysis.as_contract(), allow_nan=False)  # raises on NaN or infinity
    return json.loads(text)


def test_an_empty_combination_makes_the_terms_that_need_it_not_estimable():
    factors = CASES["2x2"]
    combos = list(itertools.product(*factors.values()))
    cells = [
        FactorialCell(dict(zip(factors, levels, strict=True)), VariantSums(f"c{i}", 500, 40.0 + i))
        for i, levels in enumerate(combos[:3])
    ]  # the last combination was never served

    analysis = factorial_analysis(cells, factors, kind="rate")

    assert analysis.intercept is None
    assert all(not term.estimable and "no visitors" in term.reason for term in analysis.terms)
    assert analysis.interactions.p_value is None
    assert "no visitors" in analysis.interactions.reason
    body = assert_json_safe(analysis)
    assert body["cells"][3] == {
        "key": None,
        "levels": {"headline": "Free shipping", "cta_label": "Shop now"},
        "visitors": 0,
        "mean": None,
    }
    words = factorial_words(analysis)
    assert words[0] == (
        "Headline: 'Free shipping' cannot be compared with 'Save 10%' yet"
        " (1 of the combinations it compares has no visitors yet)."
    )
    assert words[-1].startswith("Whether the factors interact cannot be tested yet")


def test_a_term_away_from_the_empty_cells_is_still_estimated():
    """2x3: with 'rug' never served, the 'lamp' vs 'sofa' contrast is still estimated, 'rug' vs 'sofa' is not."""
    factors = CASES["2x3"]
    cells = [
        FactorialCell(dict(zip(factors, levels, strict=True)), VariantSums(f"c{i}", 400, 30.0 + 5 * i))
        for i, levels in enumerate(itertools.product(*factors.values()))
        if levels[1] != "rug"
    ]
    by_name = {t.name: t for t in factorial_analysis(cells, factors, kind="rate").terms}
    assert by_name["image[lamp]"].estimable
    assert by_name["image[lamp]"].p_value is not None
    assert by_name["headline[Free shipping]:image[lamp]"].estimable
    assert not by_name["image[rug]"].estimable
    assert not by_name["headline[Free shipping]"].estimable  # averaged over every image, 'rug' included


def test_no_conversions_anywhere_gives_no_effect_and_no_error():
    factors = CASES["2x2x2"]
    cells = [
        FactorialCell(dict(zip(factors, levels, strict=True)), VariantSums(f"c{i}", 100, 0.0))
        for i, levels in enumerate(itertools.product(*factors.values()))
    ]
    analysis = factorial_analysis(cells, factors, kind="rate")
    assert all(t.estimate == 0 and t.standard_error == 0 and t.p_value == 1.0 for t in analysis.terms)
    assert analysis.interactions.p_value == 1.0
    assert_json_safe(analysis)


def test_one_visitor_per_combination_leaves_the_noise_unknown():
    factors = CASES["2x2"]
    cells = [
        FactorialCell(dict(zip(factors, levels, strict=True)), VariantSums(f"c{i}", 1, float(i % 2), float(i % 2)))
        for i, levels in enumerate(itertools.product(*factors.values()))
    ]
    analysis = factorial_analysis(cells, factors, kind="mean")
    assert analysis.df_residual == 0
    assert analysis.residual_variance is None
    assert all(t.estimable and t.estimate is not None and t.standard_error is None for t in analysis.terms)
    assert analysis.interactions.reason == "too few visitors to estimate the noise"
    assert_json_safe(analysis)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ([FactorialCell({"headline": "Save 10%"}, VariantSums("a", 1, 0))], "must name exactly the factors"),
        (
            [FactorialCell({"headline": "Other", "cta_label": "Buy"}, VariantSums("a", 1, 0))],
            "'Other' is not a level of the factor 'headline'",
        ),
        (
            [FactorialCell({"headline": "Save 10%", "cta_label": "Buy"}, VariantSums(k, 1, 0)) for k in "ab"],
            "given twice",
        ),
        ([FactorialCell({"headline": "Save 10%", "cta_label": "Buy"}, VariantSums("a", 10, 11))], "exceed visitors"),
    ],
)
def test_bad_cells_are_named(cells, message):
    with pytest.raises(ValueError, match=message):
        factorial_analysis(cells, CASES["2x2"], kind="rate")


def test_a_mean_needs_its_squares():
    cell = FactorialCell({"headline": "Save 10%", "cta_label": "Buy"}, VariantSums("a", 10, 3.0))
    with pytest.raises(ValueError, match="total_squares"):
        factorial_analysis([cell], CASES["2x2"], kind="mean")


# ---------------------------------------------------------------- known truth, many experiments


def test_interaction_test_keeps_alpha_and_the_main_effect_is_recovered():
    """2x2, a true +1 point headline effect and no interaction, 1,000 simulated experiments."""
    factors = CASES["2x2"]
    truth = np.array([0.05, 0.05, 0.06, 0.06])  # (Save, Buy) (Save, Shop) (Free, Buy) (Free, Shop)
    per_cell = 4000
    rng = np.random.default_rng(2026)
    conversions = rng.binomial(per_cell, truth, size=(1000, 4))
    combos = [dict(zip(factors, levels, strict=True)) for levels in itertools.product(*factors.values())]
    rejected, estimates, covered, found = 0, [], 0, 0
    for row in conversions.tolist():
        cells = [
            FactorialCell(c, VariantSums(f"c{i}", per_cell, float(x)))
            for i, (c, x) in enumerate(zip(combos, row, strict=True))
        ]
        analysis = factorial_analysis(cells, factors, kind="rate")
        rejected += analysis.interactions.p_value < 0.05
        headline = analysis.terms[0]
        assert headline.name == "headline[Free shipping]"
        estimates.append(headline.estimate)
        covered += headline.ci95[0] <= 0.01 <= headline.ci95[1]
        found += headline.p_value < 0.05
    # Binomial(1000, 0.05) lies in 30..70 with probability > 0.999.
    assert 30 <= rejected <= 70
    assert np.mean(estimates) == pytest.approx(0.01, abs=3 * np.std(estimates) / math.sqrt(1000))
    assert 930 <= covered <= 970
    # Power for a 1-point lift: Φ(0.01 / se − 1.96), se = sqrt(0.0525 / 4000), about 79 %.
    assert found / 1000 == pytest.approx(0.79, abs=0.04)


def test_words_say_which_level_wins_and_whether_factors_interact():
    factors = CASES["2x2"]
    rates = [0.05, 0.05, 0.07, 0.09]  # headline +3 points averaged, and it helps more with "Shop now"
    cells = [
        FactorialCell(dict(zip(factors, levels, strict=True)), VariantSums(f"c{i}", 40000, 40000 * rates[i]))
        for i, levels in enumerate(itertools.product(*factors.values()))
    ]
    analysis = factorial_analysis(cells, factors, kind="rate")
    words = factorial_words(analysis, labels={"cta_label": "Call to action"})
    assert re.fullmatch(r"Headline: 'Free shipping' beats 'Save 10%' by \+3\.0 points \(±\d\.\d points\)\.", words[0])
    assert words[1].startswith("Call to action: 'Shop now' beats 'Buy' by +1.0 points")
    assert words[2].startswith("The factors interact (p = ")
    assert words[3] == "The best combination so far: Headline 'Free shipping', Call to action 'Shop now' (9.0 %)."

    flat = [0.05, 0.05, 0.05, 0.05]
    cells = [FactorialCell(c.levels, VariantSums(c.sums.key, 1000, 1000 * flat[i])) for i, c in enumerate(cells)]
    words = factorial_words(factorial_analysis(cells, factors, kind="rate"))
    assert (
        words[0]
        == "Headline: no clear difference between 'Free shipping' and 'Save 10%' yet, +0.0 points (±2.1 points)."
    )
    assert words[2] == "No sign that the factors interact (p = 1): each factor's effect can be read on its own."
