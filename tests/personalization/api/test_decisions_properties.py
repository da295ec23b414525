"""Property tests of the decisions input: any JSON-like value is either valid (and safe to store and
featurize) or a 400 with field errors that can be rendered; validation never raises."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.renderers import JSONRenderer

from personalization.api.serializers import ContextInputSerializer, DecisionsInputSerializer
from personalization.engine import Context
from personalization.engine.featurize import context_features

LIVE_SLOTS = {"home-hero": object(), "cta-banner": object()}
CONTEXT_FIELDS = list(ContextInputSerializer().fields)

hostile_text = st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfffy", "\ud83d", "http://[::1", "", " ", "NL", "𝔘"])
text = st.text(max_size=30) | hostile_text
huge = st.sampled_from([10**400, -(10**400), 2**63, 2**64, 10**19, 1e308, -1e308, 1e-320])
number = (
    st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | huge
    | st.integers(min_value=-(10**30), max_value=10**30)
)
scalar = st.none() | st.booleans() | number | text


def nested(depth: int) -> object:
    value: object = "home-hero"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


deep = st.integers(min_value=20, max_value=3000).map(nested)
json_value = st.recursive(
    scalar | deep, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12
)
field_name = st.sampled_from(CONTEXT_FIELDS) | text
context = st.dictionaries(field_name, json_value, max_size=6) | st.dictionaries(
    st.sampled_from(CONTEXT_FIELDS), scalar | st.dictionaries(text, scalar, max_size=4), max_size=8
)
body = (
    st.fixed_dictionaries(
        {"slots": st.lists(st.sampled_from(list(LIVE_SLOTS)) | text, min_size=1, max_size=3) | json_value},
        optional={"context": context | json_value, "visitor_id": text | number | json_value},
    )
    | json_value
)


def check(serializer) -> None:
    if serializer.is_valid():
        data = serializer.validated_data
        # Storable: every number finite; text as it is (not \u-escaped), so a lone surrogate shows.
        encoded = json.dumps(data, default=str, allow_nan=False, ensure_ascii=False)
        assert "\\u0000" not in encoded  # json.dumps escapes NUL even without ensure_ascii
        assert all(not 0xD800 <= ord(c) <= 0xDFFF for c in encoded)
        ctx = data.get("context", data) if isinstance(serializer, DecisionsInputSerializer) else data
        features = context_features(Context.from_mapping(dict(ctx)))  # featurizable, as training will
        assert all(math.isfinite(v) for v in features.values() if isinstance(v, float))
    else:
        assert serializer.errors
        JSONRenderer().render(serializer.errors).decode("utf-8")  # the 400 body can be sent


PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(body)
def test_any_decisions_body_is_valid_or_field_errors_never_an_exception(data):
    check(DecisionsInputSerializer(data=data, context={"live_slots": LIVE_SLOTS}))


@PROPERTY_SETTINGS
@given(context | json_value)
def test_any_context_is_valid_or_field_errors_never_an_exception(data):
    check(ContextInputSerializer(data=data))


class _Accepted:
    """A serializer stand-in that accepted ``data``: what ``check`` must refuse if it cannot be stored."""

    def __init__(self, data: dict) -> None:
        self.validated_data = data

    def is_valid(self) -> bool:
        return True


@pytest.mark.parametrize("text", ["a\ud800", "\udfff", "x\x00y"])
def test_check_catches_text_that_cannot_be_stored(text):
    with pytest.raises(AssertionError):
        check(_Accepted({"attributes": {"note": text}}))
