"""``ExperimentAssignment`` and the holdout: sticky, in the configured shares, with honest propensities."""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from personalization.engine.experiments import ExperimentAssignment, holdout_contains

VISITORS = [str(uuid.UUID(int=i)) for i in range(20_000)]


def test_same_visitor_same_arm_in_another_process():
    experiment = ExperimentAssignment("hero-test", 0.5, ("a", "b", "c"))
    here = {v: experiment.assign(v) for v in VISITORS[:50]}
    code = (
        "from personalization.engine.experiments import ExperimentAssignment as E\n"
        "import uuid\n"
        "e = E('hero-test', 0.5, ('a', 'b', 'c'))\n"
        "for i in range(50):\n"
        "    c = e.assign(str(uuid.UUID(int=i)))\n"
        "    print(c.key if c else '-', c.propensity if c else '-')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    there = [line.split() for line in out if line]
    assert there == [[c.key, str(c.propensity)] if c else ["-", "-"] for c in here.values()]
    assert all(experiment.assign(v) == here[v] for v in VISITORS[:50])  # and on every call


def test_arms_follow_the_weights_chi_squared():
    experiment = ExperimentAssignment("weights", 1.0, ("a", "b", "c"), (2.0, 1.0, 1.0))
    counts = {"a": 0, "b": 0, "c": 0}
    for v in VISITORS:
        choice = experiment.assign(v)
        assert choice is not None
        counts[choice.key] += 1
        assert choice.propensity == {"a": 0.5, "b": 0.25, "c": 0.25}[choice.key]
        assert choice.reason == "experiment:weights"
    expected = [len(VISITORS) * share for share in (0.5, 0.25, 0.25)]
    assert stats.chisquare(list(counts.values()), expected).pvalue > 0.001


def test_share_takes_that_share_and_the_rest_is_outside():
    experiment = ExperimentAssignment("share", 0.2, ("a", "b"))
    inside = [v for v in VISITORS if experiment.assign(v) is not None]
    assert stats.binomtest(len(inside), len(VISITORS), 0.2).pvalue > 0.001
    # independent hashes: inside the experiment, the arms still split evenly
    arms = [experiment.assign(v).key for v in inside]
    assert stats.binomtest(arms.count("a"), len(arms), 0.5).pvalue > 0.001


def test_raising_the_share_moves_nobody_between_arms():
    small = ExperimentAssignment("grow", 0.1, ("a", "b"))
    large = ExperimentAssignment("grow", 0.6, ("a", "b"))
    for v in VISITORS[:3000]:
        before = small.assign(v)
        if before is not None:
            assert large.assign(v) == before


def test_the_key_salts_the_assignment():
    one = ExperimentAssignment("one", 1.0, ("a", "b"))
    two = ExperimentAssignment("two", 1.0, ("a", "b"))
    same = sum(one.assign(v).key == two.assign(v).key for v in VISITORS[:2000])
    assert 800 < same < 1200  # independent, not identical


def test_anonymous_is_never_assigned():
    assert ExperimentAssignment("x", 1.0, ("a", "b")).assign("") is None
    assert not holdout_contains("hero", "", 0.5)


def test_running_between_start_and_stop():
    experiment = ExperimentAssignment("t", 1.0, ("a", "b"), starts_at=100.0, ends_at=200.0)
    assert [experiment.running(t) for t in (99.9, 100.0, 199.9, 200.0)] == [False, True, True, False]
    assert ExperimentAssignment("t", 1.0, ("a", "b")).running(0.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"share": 0.0}, "share"),
        ({"share": 1.01}, "share"),
        ({"share": float("nan")}, "share"),
        ({"arms": ("a",)}, "arms"),
        ({"arms": ("a", "a")}, "arms"),
        ({"weights": (1.0,)}, "weights"),
        ({"weights": (1.0, 0.0)}, "weights"),
        ({"key": ""}, "key"),
    ],
)
def test_invalid_configuration_names_the_field(kwargs, field):
    config = {"key": "k", "share": 0.5, "arms": ("a", "b"), **kwargs}
    with pytest.raises(ValueError, match=f"^{field}:"):
        ExperimentAssignment(**config)


def test_holdout_is_sticky_and_takes_its_share():
    held = [v for v in VISITORS if holdout_contains("hero", v, 0.05)]
    assert stats.binomtest(len(held), len(VISITORS), 0.05).pvalue > 0.001
    assert all(holdout_contains("hero", v, 0.05) for v in held)
    assert not any(holdout_contains("hero", v, 0.0) for v in VISITORS[:1000])
    # the slot key salts it: another slot holds out other visitors
    other = {v for v in VISITORS if holdout_contains("footer", v, 0.05)}
    assert len(other & set(held)) < len(held) / 4


@given(
    share=st.floats(min_value=0.0, max_value=1.0, exclude_min=True),
    visitor=st.text(min_size=1, max_size=64),
    weights=st.lists(st.floats(min_value=0.001, max_value=1000.0), min_size=2, max_size=6),
)
def test_assignment_properties(share, visitor, weights):
    arms = tuple(f"v{i}" for i in range(len(weights)))
    experiment = ExperimentAssignment("prop", share, arms, tuple(weights))
    choice = experiment.assign(visitor)
    assert choice == experiment.assign(visitor)  # sticky
    if choice is None:
        assert share < 1.0
    else:
        assert choice.key in arms
        assert choice.propensity == pytest.approx(weights[arms.index(choice.key)] / sum(weights))
        assert 0.0 < choice.propensity <= 1.0
    assert sum(experiment.split.values()) == pytest.approx(1.0)


@given(share=st.floats(min_value=0.0, max_value=0.5), visitor=st.text(max_size=64))
def test_holdout_properties(share, visitor):
    held = holdout_contains("hero", visitor, share)
    assert held == holdout_contains("hero", visitor, share)
    if held:
        assert visitor
        assert share > 0
