"""A bandit that learns per context cell: the cell key, who is in which cell, and the pooled fallback."""

from __future__ import annotations

import itertools
import random
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from personalization.engine import Allocation, Candidate, Context
from personalization.engine.bandits import (
    CELL_FIELDS,
    ArmStats,
    BanditPolicy,
    cell_coarsen,
    cell_fields_check,
    cell_fields_select,
    cell_key,
    cell_values,
)
from tests.personalization.engine.test_bandits import MOBILE

CANDIDATES = [Candidate("a"), Candidate("b")]


def mobile_search(**more) -> Context:
    return Context(device="mobile", utm={"source": "Search Ads"}, visitor_id=str(uuid.uuid4()), **more)


def test_a_cell_names_each_fields_value_in_order_and_absent_ones_as_none():
    assert cell_key(mobile_search(), ("device", "utm_source")) == "@mobile.search-ads"
    assert cell_key(mobile_search(), ("utm_source", "device")) == "@search-ads.mobile"
    assert cell_key(Context(), ("utm_source", "is_returning")) == "@none.new"


@given(st.text(max_size=500), st.text(max_size=500), st.text(max_size=500))
def test_any_visitor_text_gives_a_short_safe_key(source, medium, campaign):
    key = cell_key(Context(utm={"source": source, "medium": medium, "campaign": campaign}), tuple(CELL_FIELDS)[5:8])
    assert len(key) <= 64
    assert key.startswith("@")
    assert set(key[1:]) <= set("abcdefghijklmnopqrstuvwxyz0123456789-.")


@pytest.mark.parametrize(
    ("fields", "message"),
    [(("devise",), "unknown context field 'devise'"), (("device", "device"), "named twice"),
     (("device", "os", "browser", "country"), "at most 3")],
)  # fmt: skip
def test_bad_fields_are_refused_naming_the_problem(fields, message):
    with pytest.raises(ValueError, match=message):
        cell_fields_check(fields)
    with pytest.raises(ValueError, match=message):
        BanditPolicy(salt="hero", cells=fields)


def test_a_rule_segment_comes_before_the_cell():
    policy = BanditPolicy(salt="hero", rules=((MOBILE, "a"),), cells=("device", "utm_source"))
    assert policy.segment_of(mobile_search()) == "mobile"
    assert policy.segment_of(Context(device="desktop", utm={"source": "search"})) == "@desktop.search"


def test_each_cell_is_served_its_own_allocation_and_an_unknown_cell_the_pooled_one():
    allocations = {
        "": Allocation({"a": 0.5, "b": 0.5}, "pool", "closed-form", 0),
        "@mobile.search-ads": Allocation({"a": 0.9, "b": 0.1}, "cell", "closed-form", 0),
    }
    policy = BanditPolicy(salt="hero", allocations=allocations.get, cells=("device", "utm_source"))

    known = mobile_search()
    assert policy.probabilities(CANDIDATES, known) == pytest.approx({"a": 0.9, "b": 0.1})
    choice = policy.choose(CANDIDATES, known, random.Random(1))
    assert (choice.reason, choice.version) == ("bandit:@mobile.search-ads", "cell")

    new = Context(device="tablet", visitor_id=str(uuid.uuid4()))
    assert policy.probabilities(CANDIDATES, new) == pytest.approx({"a": 0.5, "b": 0.5})
    choice = policy.choose(CANDIDATES, new, random.Random(1))
    # Counted for its own cell (so the cell can earn an allocation), drawn from the pool's version.
    assert (choice.reason, choice.version) == ("bandit:@tablet.none", "pool")
    assert policy.choice_labels(new) == ("bandit:@tablet.none", "pool")


# Which fields the clicks depend on: Bayesian selection over the subsets of the slot's fields

DEVICES, SOURCES, BROWSERS = ("mobile", "desktop"), ("search", "newsletter", "social"), ("chrome", "firefox")


def evidence(rate_of, trials: int = 400) -> dict[str, list[ArmStats]]:
    """Every (device, source, browser) cell with ``trials`` views of arms a and b at ``rate_of(cell, arm)``, exactly."""
    cells = {}
    for device, source, browser in itertools.product(DEVICES, SOURCES, BROWSERS):
        cell = f"@{device}.{source}.{browser}"
        cells[cell] = [ArmStats(arm, trials, round(trials * rate_of(device, source, arm))) for arm in "ab"]
    return cells


def test_the_fields_that_decide_jointly_are_kept_and_the_noise_field_dropped():
    # a wins for mobile searchers and desktop social visitors, b elsewhere: neither field alone predicts it.
    def rate(device, source, arm):
        a_wins = (device, source) in {("mobile", "search"), ("desktop", "social"), ("mobile", "newsletter")}
        return 0.10 if (arm == "a") == a_wins else 0.04

    assert cell_fields_select(evidence(rate), 3, (1, 16)) == (0, 1)


def test_one_field_that_decides_alone_is_kept_alone():
    assert cell_fields_select(evidence(lambda d, s, arm: 0.10 if (arm == "a") == (d == "mobile") else 0.05), 3) == (0,)


def test_with_no_difference_anywhere_the_slot_learns_as_a_whole():
    assert cell_fields_select(evidence(lambda d, s, arm: 0.06), 3, (1, 16)) == ()


def test_without_evidence_every_field_is_kept():
    assert cell_fields_select({}, 3) == (0, 1, 2)
    assert cell_fields_select(evidence(lambda d, s, arm: 0.06, trials=0), 3, (1, 16)) == (0, 1, 2)


def test_cells_from_before_the_fields_changed_take_no_part():
    cells = evidence(lambda d, s, arm: 0.10 if (arm == "a") == (d == "mobile") else 0.05)
    cells["@search"] = [ArmStats("a", 10_000, 5_000), ArmStats("b", 10_000, 0)]  # one field: an old cell
    assert cell_fields_select(cells, 3) == (0,)


def test_a_cell_coarsens_to_the_fields_kept():
    assert cell_values("@mobile.search.chrome") == ("mobile", "search", "chrome")
    assert cell_coarsen("@mobile.search.chrome", (0, 1)) == "@mobile.search.*"
    assert cell_coarsen("@mobile.search.chrome", ()) == "@*.*.*"
