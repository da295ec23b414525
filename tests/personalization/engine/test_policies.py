"""Policies: fixed, rules and sticky weighted split, plus ``build_policy``."""

import dataclasses
import random
import uuid
from collections import Counter

import pytest

from personalization.engine import (
    Candidate,
    Choice,
    Context,
    FixedPolicy,
    NoCandidatesError,
    RulesPolicy,
    SegmentSpec,
    WeightedSplitPolicy,
    build_policy,
)
from personalization.engine import policies as policies_module
from personalization.engine.policies import POLICY_FACTORIES
from personalization.engine.segments import rule_from_dict

N_VISITORS = 20_000
TOLERANCE = 0.02  # ±2 percentage points


def ctx(**data) -> Context:
    return Context.from_mapping(data)


def candidates(*keys: str, weights=None) -> list[Candidate]:
    weights = weights or [1.0] * len(keys)
    return [Candidate(key, weight) for key, weight in zip(keys, weights, strict=True)]


def visitor_ids(n: int = N_VISITORS, seed: int = 20240501) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def segment(key: str, *rules: dict, match: str = "all") -> SegmentSpec:
    return SegmentSpec(key=key, rules=tuple(rule_from_dict(r) for r in rules), match=match)


MOBILE = segment("mobile", {"kind": "device", "devices": ["mobile"]})
DUTCH = segment("dutch", {"kind": "country", "countries": ["NL"]})
NEWSLETTER = segment("newsletter", {"kind": "utm", "param": "source", "value": "newsletter"})


# FixedPolicy


@pytest.mark.parametrize(
    "context", [Context(), ctx(visitor_id="v1", device="mobile", country="NL", visit_count=5)], ids=["empty", "full"]
)
@pytest.mark.parametrize("seed", [0, 1, 99])
def test_fixed_chooses_the_default_with_propensity_one(context, seed):
    choice = FixedPolicy(default_key="b").choose(candidates("a", "b", "c"), context, random.Random(seed))
    assert choice == Choice("b", 1.0, "default")


def test_fixed_ignores_weights():
    choice = FixedPolicy(default_key="a").choose(candidates("a", "b", weights=[0.0, 100.0]), ctx(), random.Random(0))
    assert choice == Choice("a", 1.0, "default")


@pytest.mark.parametrize(
    ("live", "expected"),
    [(("b", "c"), "b"), (("c", "b"), "c"), (("z",), "z")],
)
def test_fixed_falls_back_to_the_first_live_candidate_when_the_default_is_missing(live, expected):
    choice = FixedPolicy(default_key="a").choose(candidates(*live), ctx(), random.Random(0))
    assert choice == Choice(expected, 1.0, "first-live")


@pytest.mark.parametrize("empty", [[], ()])
def test_fixed_raises_without_candidates(empty):
    with pytest.raises(NoCandidatesError):
        FixedPolicy(default_key="a").choose(empty, ctx(), random.Random(0))


def test_no_candidates_error_is_a_value_error():
    assert issubclass(NoCandidatesError, ValueError)


# RulesPolicy

RULES = ((MOBILE, "mobile-variant"), (DUTCH, "dutch-variant"))
ALL_LIVE = candidates("default", "mobile-variant", "dutch-variant")


@pytest.mark.parametrize(
    ("context_data", "expected"),
    [
        pytest.param({"device": "mobile", "country": "NL"}, Choice("mobile-variant", 1.0, "segment:mobile"), id="both"),
        pytest.param(
            {"device": "mobile", "country": "DE"}, Choice("mobile-variant", 1.0, "segment:mobile"), id="mobile"
        ),
        pytest.param({"device": "desktop", "country": "NL"}, Choice("dutch-variant", 1.0, "segment:dutch"), id="dutch"),
        pytest.param({"device": "desktop", "country": "DE"}, Choice("default", 1.0, "default"), id="neither"),
    ],
)
def test_rules_first_matching_rule_wins(context_data, expected):
    policy = RulesPolicy(default_key="default", rules=RULES)
    assert policy.choose(ALL_LIVE, ctx(**context_data), random.Random(0)) == expected


def test_rules_order_decides_for_a_visitor_in_two_segments():
    both = ctx(device="mobile", country="NL")
    forward = RulesPolicy(default_key="default", rules=RULES)
    backward = RulesPolicy(default_key="default", rules=tuple(reversed(RULES)))

    assert forward.choose(ALL_LIVE, both, random.Random(0)).key == "mobile-variant"
    assert backward.choose(ALL_LIVE, both, random.Random(0)) == Choice("dutch-variant", 1.0, "segment:dutch")


@pytest.mark.parametrize("seed", range(10))
def test_rules_are_deterministic_regardless_of_rng(seed):
    policy = RulesPolicy(default_key="default", rules=RULES)
    both = ctx(visitor_id=f"v{seed}", device="mobile", country="NL")
    assert policy.choose(ALL_LIVE, both, random.Random(seed)) == Choice("mobile-variant", 1.0, "segment:mobile")


def test_rules_skip_a_rule_whose_variant_is_paused():
    policy = RulesPolicy(default_key="default", rules=RULES)
    live = candidates("default", "dutch-variant")  # mobile-variant is paused
    assert policy.choose(live, ctx(device="mobile", country="NL"), random.Random(0)) == Choice(
        "dutch-variant", 1.0, "segment:dutch"
    )
    assert policy.choose(live, ctx(device="mobile", country="DE"), random.Random(0)) == Choice(
        "default", 1.0, "default"
    )


def test_rules_fall_back_to_first_live_when_default_is_paused_too():
    policy = RulesPolicy(default_key="default", rules=RULES)
    live = candidates("other", "dutch-variant")
    assert policy.choose(live, ctx(device="mobile", country="DE"), random.Random(0)) == Choice(
        "other", 1.0, "first-live"
    )


def test_rules_without_rules_behave_like_fixed():
    policy = RulesPolicy(default_key="b")
    assert policy.rules == ()
    assert policy.choose(candidates("a", "b"), ctx(device="mobile"), random.Random(0)) == Choice("b", 1.0, "default")


def test_rules_with_an_empty_segment_never_fire():
    empty = SegmentSpec(key="unfinished", rules=())
    policy = RulesPolicy(default_key="default", rules=((empty, "mobile-variant"),))
    assert policy.choose(ALL_LIVE, ctx(device="mobile"), random.Random(0)).reason == "default"


def test_rules_can_map_two_segments_to_one_variant():
    policy = RulesPolicy(default_key="default", rules=((MOBILE, "promo"), (NEWSLETTER, "promo")))
    live = candidates("default", "promo")
    assert policy.choose(live, ctx(utm_source="Newsletter"), random.Random(0)) == Choice(
        "promo", 1.0, "segment:newsletter"
    )


def test_rules_raise_without_candidates_even_when_a_rule_matches():
    policy = RulesPolicy(default_key="default", rules=RULES)
    with pytest.raises(NoCandidatesError):
        policy.choose([], ctx(device="mobile"), random.Random(0))


# WeightedSplitPolicy: stickiness and independence


@pytest.mark.parametrize("visitor_id", visitor_ids(5, seed=7) + ["v1", "x" * 1000, "ünïcødé"])
def test_split_is_sticky_per_visitor_and_salt(visitor_id):
    pool = candidates("a", "b", "c", weights=[1.0, 2.0, 3.0])
    context = ctx(visitor_id=visitor_id)
    first = WeightedSplitPolicy(salt="hero").choose(pool, context, random.Random(0))

    rng = random.Random(0)
    assert all(WeightedSplitPolicy(salt="hero").choose(pool, context, rng) == first for _ in range(100))
    assert all(WeightedSplitPolicy(salt="hero").choose(pool, context, random.Random(s)) == first for s in range(100))
    # The rest of the context does not move the visitor either.
    moved = ctx(visitor_id=visitor_id, device="mobile", country="NL", hour=23, visit_count=12)
    assert WeightedSplitPolicy(salt="hero").choose(pool, moved, random.Random(1)) == first


def test_split_with_a_visitor_id_does_not_consume_the_rng():
    rng = random.Random(5)
    untouched = random.Random(5)
    policy = WeightedSplitPolicy(salt="hero")
    for visitor_id in visitor_ids(50):
        policy.choose(candidates("a", "b"), ctx(visitor_id=visitor_id), rng)
    assert rng.random() == untouched.random()


def test_split_different_salts_assign_independently():
    pool = candidates("a", "b")
    hero, footer = WeightedSplitPolicy(salt="hero"), WeightedSplitPolicy(salt="footer")
    rng = random.Random(0)

    pairs = Counter(
        (hero.choose(pool, c, rng).key, footer.choose(pool, c, rng).key)
        for c in (ctx(visitor_id=v) for v in visitor_ids())
    )

    # Each of the four combinations gets about a quarter of the visitors:
    # being in "a" for one slot says nothing about the other slot.
    for combination in [("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]:
        assert pairs[combination] / N_VISITORS == pytest.approx(0.25, abs=TOLERANCE)


def test_split_salt_changes_some_assignments():
    pool = candidates("a", "b")
    ids = visitor_ids(200)
    hero = [WeightedSplitPolicy(salt="hero").choose(pool, ctx(visitor_id=v), random.Random(0)).key for v in ids]
    other = [WeightedSplitPolicy(salt="hero2").choose(pool, ctx(visitor_id=v), random.Random(0)).key for v in ids]
    assert hero != other


# WeightedSplitPolicy: propensities and observed split


@pytest.mark.parametrize(
    ("weights", "shares"),
    [
        pytest.param([1, 3], [0.25, 0.75], id="1-3"),
        pytest.param([1, 1], [0.5, 0.5], id="even"),
        pytest.param([2, 3, 5], [0.2, 0.3, 0.5], id="2-3-5"),
        pytest.param([0.1, 0.9], [0.1, 0.9], id="fractions"),
        pytest.param([5], [1.0], id="single"),
        pytest.param([0, 1, 3], [None, 0.25, 0.75], id="zero-excluded-from-total"),
    ],
)
def test_split_propensity_is_the_weight_share(weights, shares):
    keys = [f"v{i}" for i in range(len(weights))]
    pool = candidates(*keys, weights=weights)
    expected = {key: share for key, share in zip(keys, shares, strict=True) if share is not None}
    policy = WeightedSplitPolicy(salt="hero")

    seen = {}
    for visitor_id in visitor_ids(2_000):
        choice = policy.choose(pool, ctx(visitor_id=visitor_id), random.Random(0))
        assert choice.reason == "split"
        seen[choice.key] = choice.propensity

    assert set(seen) == set(expected)
    for key, share in expected.items():
        assert seen[key] == pytest.approx(share)


@pytest.mark.parametrize(
    "weights",
    [
        pytest.param([1, 3], id="1-3"),
        pytest.param([1, 1], id="even"),
        pytest.param([2, 3, 5], id="2-3-5"),
        pytest.param([1, 1, 1, 1], id="four-way"),
        pytest.param([0.05, 0.95], id="small-arm"),
    ],
)
@pytest.mark.parametrize("salt", ["hero", "pricing-cta"])
def test_split_observed_shares_follow_the_weights(weights, salt):
    keys = [f"v{i}" for i in range(len(weights))]
    pool = candidates(*keys, weights=weights)
    policy = WeightedSplitPolicy(salt=salt)
    rng = random.Random(0)

    counts = Counter(policy.choose(pool, ctx(visitor_id=v), rng).key for v in visitor_ids())

    total = sum(weights)
    for key, weight in zip(keys, weights, strict=True):
        assert counts[key] / N_VISITORS == pytest.approx(weight / total, abs=TOLERANCE), key


@pytest.mark.parametrize(
    "weights",
    [[0, 1], [1, 0], [0, 1, 0, 2], [3, 0, 0]],
)
def test_split_never_chooses_a_zero_weight(weights):
    keys = [f"v{i}" for i in range(len(weights))]
    pool = candidates(*keys, weights=weights)
    zero = {key for key, weight in zip(keys, weights, strict=True) if weight == 0}
    policy = WeightedSplitPolicy(salt="hero")

    chosen = {policy.choose(pool, ctx(visitor_id=v), random.Random(0)).key for v in visitor_ids(5_000)}
    chosen |= {policy.choose(pool, ctx(), random.Random(seed)).key for seed in range(2_000)}

    assert chosen.isdisjoint(zero)
    assert chosen == set(keys) - zero


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_split_all_zero_weights_is_uniform(n):
    keys = [f"v{i}" for i in range(n)]
    pool = candidates(*keys, weights=[0.0] * n)
    policy = WeightedSplitPolicy(salt="hero")
    rng = random.Random(0)

    choices = [policy.choose(pool, ctx(visitor_id=v), rng) for v in visitor_ids()]
    counts = Counter(choice.key for choice in choices)

    assert all(choice.propensity == pytest.approx(1 / n) for choice in choices)
    for key in keys:
        assert counts[key] / N_VISITORS == pytest.approx(1 / n, abs=TOLERANCE)


def test_split_raises_without_candidates():
    with pytest.raises(NoCandidatesError):
        WeightedSplitPolicy(salt="hero").choose([], ctx(visitor_id="v1"), random.Random(0))


def test_split_guards_the_top_edge(monkeypatch):
    # A hash at the very top of the range (as float rounding could produce) still picks the last variant.
    monkeypatch.setattr(policies_module, "unit_hash", lambda *parts: 1.0)
    choice = WeightedSplitPolicy(salt="hero").choose(
        candidates("a", "b", "c", weights=[1, 1, 2]), ctx(visitor_id="v"), random.Random(0)
    )
    assert choice == Choice("c", 0.5, "split")


# WeightedSplitPolicy: anonymous calls use the injected rng


@pytest.mark.parametrize("seed", [0, 1, 42])
def test_split_without_visitor_id_is_reproducible_with_a_seeded_rng(seed):
    pool = candidates("a", "b", "c", weights=[1, 2, 3])
    policy = WeightedSplitPolicy(salt="hero")

    def run(rng_seed: int) -> list[Choice]:
        rng = random.Random(rng_seed)
        return [policy.choose(pool, Context(), rng) for _ in range(200)]

    first = run(seed)
    assert run(seed) == first
    assert len({choice.key for choice in first}) == 3  # not sticky: it really draws
    assert run(seed + 1000) != first


def test_split_without_visitor_id_consumes_one_draw_per_call():
    pool = candidates("a", "b", weights=[1, 3])
    rng, reference = random.Random(3), random.Random(3)
    for _ in range(10):
        point = reference.random()
        assert WeightedSplitPolicy(salt="hero").choose(pool, Context(), rng).key == ("a" if point < 0.25 else "b")


def test_split_without_visitor_id_follows_the_weights():
    pool = candidates("a", "b", weights=[1, 3])
    rng = random.Random(12345)
    counts = Counter(WeightedSplitPolicy(salt="hero").choose(pool, ctx(), rng).key for _ in range(N_VISITORS))
    assert counts["a"] / N_VISITORS == pytest.approx(0.25, abs=TOLERANCE)
    assert counts["b"] / N_VISITORS == pytest.approx(0.75, abs=TOLERANCE)


# build_policy


@pytest.mark.parametrize(
    ("strategy", "config", "expected"),
    [
        ("fixed", {"default_key": "a"}, FixedPolicy(default_key="a")),
        ("rules", {"default_key": "a"}, RulesPolicy(default_key="a")),
        ("rules", {"default_key": "a", "rules": [(MOBILE, "b")]}, RulesPolicy(default_key="a", rules=((MOBILE, "b"),))),
        ("split", {"slot_key": "hero"}, WeightedSplitPolicy(salt="hero")),
        # Extra configuration other strategies need is ignored.
        ("fixed", {"default_key": "a", "slot_key": "hero", "rules": []}, FixedPolicy(default_key="a")),
        ("split", {"slot_key": "hero", "default_key": "a"}, WeightedSplitPolicy(salt="hero")),
    ],
)
def test_build_policy(strategy, config, expected):
    policy = build_policy(strategy, **config)
    assert policy == expected
    assert policy.name == strategy
    assert isinstance(policy.version, str)
    assert policy.version


def test_build_policy_rules_are_stored_as_a_tuple():
    policy = build_policy("rules", default_key="a", rules=[(MOBILE, "b"), (DUTCH, "c")])
    assert policy.rules == ((MOBILE, "b"), (DUTCH, "c"))
    assert policy.choose(candidates("a", "b", "c"), ctx(country="NL"), random.Random(0)) == Choice(
        "c", 1.0, "segment:dutch"
    )


def test_every_registered_strategy_builds_a_policy_of_that_name():
    config = {"default_key": "a", "slot_key": "hero", "rules": ()}
    for strategy in POLICY_FACTORIES:
        assert build_policy(strategy, **config).name == strategy


def test_every_policy_says_which_model_version_it_serves():
    """Serving reads ``model_version`` from any policy: the model's version, or "" for a policy without one."""
    config = {"default_key": "a", "slot_key": "hero", "rules": ()}
    for strategy in POLICY_FACTORIES:
        assert build_policy(strategy, **config).model_version == ""
    assert build_policy("model", **config, model_version="7").model_version == "7"


@pytest.mark.parametrize("strategy", ["thompson", "", "FIXED", "Split"])
def test_build_policy_rejects_an_unknown_strategy(strategy):
    with pytest.raises(ValueError, match=r"Unknown strategy") as excinfo:
        build_policy(strategy, default_key="a", slot_key="hero")
    message = str(excinfo.value)
    assert repr(strategy) in message
    assert "known: bandit, fixed, model, rules, split" in message
    for known in POLICY_FACTORIES:
        assert known in message


@pytest.mark.parametrize(
    "policy",
    [FixedPolicy(default_key="a"), RulesPolicy(default_key="a"), WeightedSplitPolicy(salt="hero")],
    ids=lambda p: p.name,
)
def test_policies_are_immutable_and_hashable(policy):
    hash(policy)
    field = dataclasses.fields(policy)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(policy, field, "changed")
