"""Goals under hostile input: the pattern and selector checks never raise, the wildcard match agrees with a
reference, and ingest's ``props.goal`` check accepts exactly the published, active goals whatever a client sends."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracking.event_decode import events_batch_convert
from tracking.event_rules import events_validate
from tracking.goal_rules import css_selector_problem, path_matches, path_pattern_problem
from tracking.services import goal_publish

SELECTOR_BITS = st.sampled_from(
    ["a", "div", "#x", ".y", "-z", "_q", "1", "[", "]", "=", "^=", '"v"', "'w'", " ", ">", "+", "~", ",", ":",
     "first-child", "hover", "*", "\\", "(", ")", "é", "\t", "|", "\n", "\x00", '"', "-"]
)  # fmt: skip
selectors = st.one_of(st.text(max_size=60), st.lists(SELECTOR_BITS, max_size=25).map("".join))


@settings(max_examples=500, deadline=None)
@given(text=selectors)
def test_selector_and_pattern_checks_answer_without_raising(text):
    for problem in (css_selector_problem(text), path_pattern_problem(text)):
        assert problem is None or (isinstance(problem, str) and problem)


def _reference(pattern: str, path: str) -> bool:
    # A regular expression is fine here: the test builds it, from short generated patterns.
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), path, re.DOTALL) is not None


PATH_CHARS = st.sampled_from("/ab*.-%é")


@settings(max_examples=1000, deadline=None)
@given(pattern=st.text(PATH_CHARS, max_size=12), path=st.text(PATH_CHARS, max_size=16))
def test_path_matches_agrees_with_a_reference(pattern, path):
    assert path_matches(pattern, path) is _reference(pattern, path)


GOALS = {"thanks": 20.0, "order": 5.0}  # order takes the site's value
goal_keys = st.one_of(
    st.sampled_from([*GOALS, "old", "draft", "Thanks", "thanks ", "thanks\x00"]),
    st.text(max_size=80),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
event_value = st.one_of(st.none(), st.floats(min_value=-1e6, max_value=1e6))


@pytest.fixture
def published(db):
    """Set up once for all the examples of a test (hypothesis runs them inside one test function)."""
    from tracking.models import Goal

    goal_publish(key="thanks", name="Thanks", kind="page", match="/thanks/", value=20)
    goal_publish(key="order", name="Order", kind="event", match="", value=5, site_value=True)
    goal_publish(key="old", name="Old", kind="page", match="/old/", is_active=False)
    Goal.objects.create(key="draft", name="Draft", kind="page", match="/draft/", live=False)


@pytest.mark.django_db
@settings(max_examples=300, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(goals=st.lists(st.tuples(goal_keys, event_value), min_size=1, max_size=8))
def test_ingest_accepts_exactly_the_published_active_goals(published, goals):
    now = time.time()
    events = [
        {"id": str(uuid.uuid4()), "type": "conversion", "ts": now * 1000, "value": value, "props": {"goal": key}}
        for key, value in goals
    ]
    accepted, rejected = events_validate(events_batch_convert(events), str(uuid.uuid4()), now)
    refused = {r["index"] for r in rejected}
    assert len(accepted) + len(refused) == len(events)
    kept = iter(accepted)
    for index, (key, value) in enumerate(goals):
        # NUL is stripped from prop values before the check: "thanks\x00" names "thanks".
        name = key.replace("\x00", "") if isinstance(key, str) else key
        if isinstance(name, str) and name in GOALS:
            record = next(kept)
            assert record["props"] == {"goal": name}
            assert record["value"] == (value if name == "order" and value is not None else GOALS[name])
        else:
            assert index in refused
            [rejection] = [r for r in rejected if r["index"] == index]
            assert set(rejection["errors"]) <= {"props.goal", "props"}
