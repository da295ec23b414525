"""Frequency caps and novelty decay, pure: which variants a visitor may still see, and with what chance."""

from __future__ import annotations

import random

import pytest

from personalization.engine import Candidate, Context, FixedPolicy, RulesPolicy, SegmentSpec, WeightedSplitPolicy
from personalization.engine.bandits import Allocation, BanditPolicy
from personalization.engine.caps import (
    CapSettings,
    Exposure,
    ExposureBook,
    candidates_allowed,
    capped_choose,
    distribution_reweight,
    novelty_weight,
    novelty_weights,
)
from personalization.engine.model_policy import ModelPolicy
from personalization.engine.segments import DeviceRule

ABC = (Candidate("a", 1.0), Candidate("b", 1.0), Candidate("c", 2.0))


def test_views_count_per_day_and_per_visit_and_roll_over():
    e = Exposure().viewed(day=10, visit=1).viewed(day=10, visit=1).viewed(day=10, visit=2)
    assert (e.views_on(10), e.views_in(2), e.views_in(1), e.unanswered) == (3, 1, 0, 3)
    e = e.viewed(day=11, visit=3)
    assert (e.views_on(11), e.views_on(10), e.views_in(3), e.unanswered) == (1, 0, 1, 4)
    assert e.acted().unanswered == 0
    assert e.acted().views_on(11) == 1  # a click does not lift a cap


def test_a_variant_at_its_cap_leaves_the_candidates_until_the_day_or_visit_turns():
    caps = CapSettings(per_day=2, per_visit=1)
    history = {"a": Exposure().viewed(day=5, visit=3), "b": Exposure(day=5, views_day=2, visit=2, views_visit=1)}
    assert [c.key for c in candidates_allowed(ABC, history, caps, day=5, visit=3)] == ["c"]  # a: visit, b: day
    assert [c.key for c in candidates_allowed(ABC, history, caps, day=5, visit=4)] == ["a", "c"]
    assert [c.key for c in candidates_allowed(ABC, history, caps, day=6, visit=4)] == ["a", "b", "c"]
    assert candidates_allowed(ABC, history, CapSettings(), day=5, visit=3) == ABC


def test_novelty_multiplies_the_chance_by_the_decay_per_view_after_the_threshold():
    caps = CapSettings(novelty_after=3, novelty_decay=0.5)
    assert [novelty_weight(Exposure(unanswered=n), caps) for n in range(6)] == [1, 1, 1, 0.5, 0.25, 0.125]
    assert novelty_weight(Exposure(unanswered=9), CapSettings()) == 1.0  # off
    assert novelty_weights(ABC, {"b": Exposure(unanswered=4)}, caps) == {"a": 1.0, "b": 0.25, "c": 1.0}


@pytest.mark.parametrize(
    "values", [{"per_day": -1}, {"per_visit": 1.5}, {"novelty_decay": 1.5}, {"novelty_decay": -0.1}]
)
def test_settings_are_checked(values):
    with pytest.raises(ValueError, match=next(iter(values))):
        CapSettings(**values)


def test_reweighting_renormalises_and_drops_what_has_no_chance():
    out = distribution_reweight({"a": 0.25, "b": 0.25, "c": 0.5}, {"b": 0.5, "c": 0.0})
    assert out == pytest.approx({"a": 0.25 / 0.375, "b": 0.125 / 0.375})
    assert distribution_reweight({"a": 1.0}, {"a": 0.0}) == {}


def test_split_under_novelty_logs_the_renormalised_probability():
    policy = WeightedSplitPolicy(salt="s")
    weights = {"a": 1.0, "b": 0.5, "c": 0.25}  # shares 1/4, 1/4, 1/2 -> 0.25, 0.125, 0.125 -> /0.5
    expected = {"a": 0.5, "b": 0.25, "c": 0.25}
    rng = random.Random(3)
    seen = {key: 0 for key in expected}
    for _ in range(4000):
        choice = capped_choose(policy, ABC, weights, Context(visitor_id="v"), rng)
        assert choice.propensity == pytest.approx(expected[choice.key])
        assert choice.reason == "novelty"
        seen[choice.key] += 1
    # Fresh randomness, not the visitor's sticky hash: the logged probability is the real frequency.
    assert all(abs(seen[k] / 4000 - p) < 0.03 for k, p in expected.items())


def test_model_policy_is_reweighted_from_its_own_probabilities():
    policy = ModelPolicy(model=None, variants={})
    choice = capped_choose(policy, ABC, {"a": 0.5}, Context(), random.Random(1))
    assert choice.propensity == pytest.approx({"a": 0.2, "b": 0.4, "c": 0.4}[choice.key])


def test_a_bandit_under_novelty_keeps_its_segment_and_allocation_version():
    # The bandit counts a decision's trial for the segment in its reason and ties it to its allocation's version.
    mobile = SegmentSpec(key="mobile", rules=(DeviceRule(devices=frozenset({"mobile"})),))
    allocation = Allocation(probabilities={"a": 0.5, "b": 0.25, "c": 0.25}, version="v7", method="closed-form", draws=0)
    policy = BanditPolicy(salt="hero", rules=((mobile, "a"),), allocations={"mobile": allocation}.get)
    choice = capped_choose(policy, ABC, {"a": 0.5}, Context(device="mobile", visitor_id="v"), random.Random(2))
    assert (choice.reason, choice.version) == ("bandit:mobile", "v7")
    assert choice.propensity == pytest.approx({"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}[choice.key])
    plain = capped_choose(policy, ABC, {"a": 0.5}, Context(device="desktop", visitor_id="v"), random.Random(2))
    assert (plain.reason, plain.version) == ("bandit", "")


def test_a_rules_slot_under_novelty_moves_on_to_the_next_rule_then_the_default():
    everyone = SegmentSpec(key="everyone", rules=(DeviceRule(devices=frozenset({"desktop", "mobile"})),))
    policy = RulesPolicy(default_key="c", rules=((everyone, "a"), (everyone, "b")))
    rng = random.Random(0)
    # a is decayed to 0.25: kept with 0.25, else b (0.75 of the rest), never c while b has full weight
    choices = [capped_choose(policy, ABC, {"a": 0.25}, Context(device="mobile"), rng) for _ in range(2000)]
    by_key = {c.key: c for c in choices}
    assert by_key["a"].propensity == pytest.approx(0.25)
    assert by_key["b"].propensity == pytest.approx(0.75)
    assert set(by_key) == {"a", "b"}
    assert by_key["b"].reason == "novelty"
    # Caps alone: the rule's own choice among what is left, certain, with the rule's reason.
    only = capped_choose(policy, ABC[1:], {"b": 1.0, "c": 1.0}, Context(device="mobile"), rng)
    assert (only.key, only.propensity, only.reason) == ("b", 1.0, "segment:everyone")


def test_a_fixed_slot_whose_default_is_capped_shows_the_first_variant_left():
    choice = capped_choose(FixedPolicy(default_key="a"), ABC[1:], {}, Context(), random.Random(0))
    assert (choice.key, choice.propensity) == ("b", 1.0)


def test_nothing_with_a_chance_left_is_none():
    assert (
        capped_choose(WeightedSplitPolicy(salt="s"), ABC, {"a": 0.0, "b": 0.0, "c": 0.0}, Context(), random.Random())
        is None
    )


def test_a_click_resets_its_variant_and_a_conversion_the_latest_decision_of_each_slot():
    book = ExposureBook()
    for i, (slot, variant, at) in enumerate([("hero", "a", 100.0), ("hero", "b", 200.0), ("offer", "x", 150.0)]):
        book = book.viewed(f"d{i}", slot, variant, day=1, visit=1, at=at)
    book = book.viewed("d3", "hero", "a", day=1, visit=1, at=300.0)
    clicked = book.acted([{"type": "click", "decision_id": "d1", "ts": 210.0}], window_seconds=1800)
    assert clicked.history("hero")["b"].unanswered == 0
    assert clicked.history("hero")["a"].unanswered == 2
    converted = book.acted([{"type": "conversion", "decision_id": None, "ts": 250.0}], window_seconds=1800)
    # hero's latest before 250 is b (at 200); offer's is x
    assert converted.history("hero")["b"].unanswered == 0
    assert converted.history("offer")["x"].unanswered == 0
    assert converted.history("hero")["a"].unanswered == 2
    assert book.acted([{"type": "hover", "decision_id": "d1", "ts": 1.0}], window_seconds=1800) is book


def test_the_book_round_trips_through_plain_data_and_forgets_what_it_cannot_read():
    book = ExposureBook().viewed("d", "hero", "a", day=3, visit=2, at=5.0)
    assert ExposureBook.from_value(book.to_value()) == book
    assert ExposureBook.from_value({"s": {"hero": {"a": ["x"]}}}) == ExposureBook()
    assert ExposureBook.from_value("junk") == ExposureBook()


def test_the_book_remembers_a_bounded_number_of_decisions():
    book = ExposureBook()
    for i in range(100):
        book = book.viewed(f"d{i}", "hero", "a", day=1, visit=1, at=float(i))
    assert len(book.recent) == 32
    assert book.recent[-1][0] == "d99"
    assert book.history("hero")["a"].unanswered == 100


def test_with_a_cap_binding_the_draw_is_fresh_so_the_logged_share_is_the_real_frequency():
    # A sticky draw would give visitor "v" the same variant every time (the hash that chose the capped
    # variant before also chooses among the rest): its logged 1/3 and 2/3 would be false for them.
    rng = random.Random(5)
    seen = {"b": 0, "c": 0}
    for _ in range(3000):
        choice = capped_choose(WeightedSplitPolicy(salt="s"), ABC[1:], {}, Context(visitor_id="v"), rng)
        assert choice.propensity == pytest.approx({"b": 1 / 3, "c": 2 / 3}[choice.key])
        assert choice.reason == "caps"
        seen[choice.key] += 1
    assert abs(seen["b"] / 3000 - 1 / 3) < 0.03
