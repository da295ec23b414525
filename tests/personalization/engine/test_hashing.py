"""``unit_hash``: stable across processes and releases, uniform on [0, 1)."""

import random

import pytest

from personalization.engine.hashing import unit_hash


def test_known_value_is_pinned():
    # Changing the hash reshuffles every visitor of every running split. If this
    # fails, the change was not backwards compatible.
    assert unit_hash("hero", "visitor-1") == 0.5942622534264638
    assert unit_hash("a", "b") == 0.9699142814205318


@pytest.mark.parametrize("parts", [(), ("",), ("hero", ""), ("hero", "v1"), ("ünïcødé", "x" * 10_000)])
def test_in_unit_interval_and_deterministic(parts):
    value = unit_hash(*parts)
    assert 0.0 <= value < 1.0
    assert unit_hash(*parts) == value


def test_parts_are_separated():
    assert unit_hash("ab", "c") != unit_hash("a", "bc")
    assert unit_hash("hero", "v1") != unit_hash("v1", "hero")


def test_roughly_uniform():
    rng = random.Random(99)
    values = [unit_hash("slot", str(rng.getrandbits(64))) for _ in range(20_000)]
    buckets = [0] * 10
    for value in values:
        buckets[int(value * 10)] += 1
    for count in buckets:
        assert count / len(values) == pytest.approx(0.1, abs=0.02)
