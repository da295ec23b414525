"""Thompson exploration for the model strategy: per-cell allocations from the model's prior and the cell's evidence."""

import random
from collections import Counter
from types import MappingProxyType

import numpy as np
import pytest

from personalization.engine.bandits import ArmStats, allocation_compute, pooled_rate
from personalization.engine.context import Context
from personalization.engine.model_cells import PRIOR_ROWS, CellAllocations, cell_allocations_compute
from personalization.engine.model_policy import ModelPolicy
from personalization.engine.policies import Candidate
from tests.personalization.engine.test_model_policy import VARIANTS, FixedScores

KEYS = ("A", "B", "C", "D")
# Each (device, source)'s click rate per variant: the favourite depends on both jointly.
RATES = {
    ("mobile", "search"): (0.11, 0.05, 0.03, 0.06),
    ("mobile", "social"): (0.03, 0.10, 0.05, 0.06),
    ("desktop", "search"): (0.05, 0.03, 0.10, 0.06),
    ("desktop", "social"): (0.06, 0.04, 0.05, 0.12),
}


def context(device: str, source: str, browser: str = "chrome") -> Context:
    return Context(device=device, browser=browser, utm=MappingProxyType({"source": source}))


def uniform_log(n: int, seed: int = 1):
    """Decisions shown uniformly at random; the browser is drawn apart from everything and predicts nothing."""
    rng = random.Random(seed)
    contexts, actions, rewards = [], [], []
    kinds = list(RATES)
    for _ in range(n):
        device, source = kinds[rng.randrange(len(kinds))]
        action = rng.randrange(len(KEYS))
        contexts.append(context(device, source, rng.choice(("chrome", "firefox"))))
        actions.append(KEYS[action])
        rewards.append(float(rng.random() < RATES[device, source][action]))
    return contexts, actions, rewards


def flat(value: float = 0.06):
    """A model that knows nothing: the same prediction for every variant and visitor."""
    return lambda contexts: np.full((len(contexts), len(KEYS)), value)


def test_a_cell_is_the_thompson_allocation_of_its_evidence_plus_the_models_prior_worth_prior_rows():
    contexts = [context("mobile", "search")] * 8
    actions = ["A", "A", "B", "C", "A", "B", "B", "D"]
    rewards = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    predictions = np.array([0.2, 0.1, 0.05, 0.3])

    table = cell_allocations_compute(
        contexts, actions, rewards, KEYS, lambda cs: np.tile(predictions, (len(cs), 1)), floor=0.01, seed=3
    )

    # No context field varies: one cell holds every decision.
    assert table.fields == ()
    assert set(table.table) == {"@"}
    n = Counter(actions)
    wins = Counter(a for a, r in zip(actions, rewards, strict=True) if r)
    arms = [ArmStats(k, n[k] + PRIOR_ROWS, wins[k] + PRIOR_ROWS * p) for k, p in zip(KEYS, predictions, strict=True)]
    everyone = [ArmStats(k, n[k], wins[k]) for k in KEYS]
    reference = allocation_compute(arms, floor=0.01, prior_rate=pooled_rate(everyone), seed=None)
    for key in KEYS:
        assert table.table["@"][key] == pytest.approx(reference.probabilities[key], abs=0.01)


def test_the_fields_that_matter_are_kept_and_a_field_that_predicts_nothing_is_dropped():
    contexts, actions, rewards = uniform_log(6000)

    table = cell_allocations_compute(contexts, actions, rewards, KEYS, flat(), floor=0.01)

    assert set(table.fields) == {"device", "utm_source"}
    assert set(table.table) == {"@mobile.search", "@mobile.social", "@desktop.search", "@desktop.social"}
    for (device, source), rates in RATES.items():
        shares = table.lookup(context(device, source, "firefox"))
        assert shares is not None
        assert max(shares, key=shares.get) == KEYS[int(np.argmax(rates))]


def test_the_cells_own_evidence_overrules_a_model_that_is_wrong_about_it():
    contexts, actions, rewards = uniform_log(6000)
    # The model rates D best everywhere, as one trained on a log that showed little else might.
    wrong = lambda cs: np.tile([0.04, 0.04, 0.04, 0.12], (len(cs), 1))  # noqa: E731

    table = cell_allocations_compute(contexts, actions, rewards, KEYS, wrong, floor=0.01)

    mobile_search = table.lookup(context("mobile", "search"))
    assert mobile_search is not None
    assert max(mobile_search, key=mobile_search.get) == "A"
    assert mobile_search["D"] < 0.05


def test_without_evidence_the_model_ranks_and_every_share_keeps_the_floor():
    contexts = [context("mobile", "search")] * 3
    table = cell_allocations_compute(
        contexts,
        ["A", "B", "C"],
        [0.0, 0.0, 0.0],
        KEYS,
        lambda cs: np.tile([0.02, 0.3, 0.02, 0.02], (len(cs), 1)),
        floor=0.02,
    )
    shares = table.table["@"]
    assert max(shares, key=shares.get) == "B"
    assert min(shares.values()) >= 0.02 - 1e-12
    assert sum(shares.values()) == pytest.approx(1.0)


def test_decisions_of_a_variant_no_longer_offered_are_left_out_and_bad_input_is_refused():
    table = cell_allocations_compute([context("mobile", "search")], ["Z"], [1.0], KEYS, flat(), floor=0.01)
    assert table.table == {}
    with pytest.raises(ValueError, match="as long as"):
        cell_allocations_compute([context("mobile", "search")], [], [], KEYS, flat(), floor=0.01)
    with pytest.raises(ValueError, match="at least one variant"):
        cell_allocations_compute([], [], [], (), flat(), floor=0.01)


def test_the_table_round_trips_through_its_stored_form_and_refuses_what_it_cannot_read():
    contexts, actions, rewards = uniform_log(1000)
    table = cell_allocations_compute(contexts, actions, rewards, KEYS, flat(), floor=0.01)
    assert CellAllocations.from_dict(table.to_dict()) == table
    with pytest.raises(ValueError, match="format_version"):
        CellAllocations.from_dict({"format_version": 99, "fields": [], "cells": {}})
    with pytest.raises(ValueError, match="unknown context field"):
        CellAllocations(fields=("shoe_size",))
    with pytest.raises(ValueError, match="probabilities"):
        CellAllocations(fields=(), table={"@": {"A": 1.5}})


TABLE = CellAllocations(
    fields=("device",),
    table={"@mobile": {"A": 0.7, "B": 0.1, "C": 0.1, "D": 0.1}},
)
SCORES = {"A": 0.10, "B": 0.30, "C": 0.20, "D": 0.05}


def thompson(**config) -> ModelPolicy:
    config = {"exploration": "thompson", "rate": 0.04, "cells": TABLE, "salt": "hero", **config}
    return ModelPolicy(model=FixedScores(SCORES), variants=VARIANTS, **config)  # type: ignore[arg-type]


def test_a_visitor_in_a_known_cell_is_served_its_allocation_without_scoring():
    policy = thompson()
    model = policy.model
    shares = policy.probabilities([Candidate(k) for k in KEYS], Context(device="mobile"))
    assert shares == pytest.approx({"A": 0.7, "B": 0.1, "C": 0.1, "D": 0.1})
    assert model.calls == []  # type: ignore[union-attr]


def test_a_cell_the_log_has_not_seen_falls_back_to_epsilon_greedy_on_the_scores():
    shares = thompson().probabilities([Candidate(k) for k in KEYS], Context(device="desktop"))
    assert shares == pytest.approx({"A": 0.01, "B": 0.97, "C": 0.01, "D": 0.01})


def test_a_variant_added_since_training_keeps_the_floor_and_a_capped_one_leaves_the_rest_renormalised():
    policy = thompson()
    grown = policy.probabilities([Candidate(k) for k in ("A", "B", "E")], Context(device="mobile"))
    floor = 0.04 / 3
    assert grown == pytest.approx({"A": 0.7 / (0.8 + floor), "B": 0.1 / (0.8 + floor), "E": floor / (0.8 + floor)})
    capped = policy.probabilities([Candidate("B"), Candidate("C")], Context(device="mobile"))
    assert capped == pytest.approx({"B": 0.5, "C": 0.5})


def test_without_a_model_thompson_explores_uniformly():
    policy = ModelPolicy(model=None, variants=VARIANTS, exploration="thompson", cells=TABLE)
    assert policy.probabilities([Candidate(k) for k in KEYS], Context(device="mobile")) == {k: 0.25 for k in KEYS}


def test_the_logged_propensity_is_the_share_with_which_visitors_are_in_fact_shown_each_variant():
    policy = thompson()
    rng = random.Random(5)
    shown = Counter()
    draws = 20_000
    for i in range(draws):
        choice = policy.choose([Candidate(k) for k in KEYS], Context(device="mobile", visitor_id=f"v{i}"), rng)
        assert choice.propensity == pytest.approx(TABLE.table["@mobile"][choice.key])
        shown[choice.key] += 1
    for key, share in TABLE.table["@mobile"].items():
        assert shown[key] / draws == pytest.approx(share, abs=0.015)
    assert policy.choose([Candidate(k) for k in KEYS], Context(device="mobile", visitor_id="v1"), rng) == (
        policy.choose([Candidate(k) for k in KEYS], Context(device="mobile", visitor_id="v1"), rng)
    )
