"""POST /api/v1/decisions/ with "explain": true: each decision says why, in the documented shape."""

from __future__ import annotations

import json
import uuid

import pytest

from personalization.api.serializers import ExplanationSerializer
from tests.factories.models import model_slot_trained
from tests.factories.slots import segment_create, slot_create
from tracking.models import DecisionLog

pytestmark = pytest.mark.django_db

URL = "/api/v1/decisions/"


def post(client, body, **extra):
    return client.post(URL, data=json.dumps(body), content_type="application/json", **extra)


def documented(explanation: dict) -> dict:
    """The explanation exactly as the schema documents it (every field present, nothing extra)."""
    assert set(explanation) == set(ExplanationSerializer().fields)
    return explanation


def test_without_the_flag_there_is_no_explanation(client):
    slot_create("plain-hero")
    body = post(client, {"slots": ["plain-hero"]}).json()
    assert "explanation" not in body["decisions"][0]


def test_a_rule_decision_names_the_segment_that_matched(client):
    mobile = segment_create("on-phones", [{"type": "device", "value": {"devices": ["mobile"]}}])
    slot_create("ruled-hero", strategy="rules", rules=[("on-phones", "b")], segments={"on-phones": mobile})

    body = post(client, {"slots": ["ruled-hero"], "context": {"device": "mobile"}, "explain": True}).json()
    decision = body["decisions"][0]
    explanation = documented(decision["explanation"])

    assert decision["variant"]["key"] == "b"
    assert explanation["policy"] == "rules"
    assert explanation["segment"] == "on-phones"
    assert explanation["segment_name"] == "On Phones"
    assert "“On Phones”" in explanation["summary"]
    assert explanation["features"] == []
    # Explaining changes nothing about what is logged: one decision, the one returned.
    assert DecisionLog.objects.filter(id=uuid.UUID(decision["decision_id"])).count() == 1
    assert DecisionLog.objects.count() == 1


def test_a_split_decision_states_the_share(client):
    slot_create("split-hero", strategy="split", variants=[("a", 3), ("b", 1)])
    body = post(client, {"slots": ["split-hero"], "explain": True}).json()
    explanation = documented(body["decisions"][0]["explanation"])
    assert explanation["policy"] == "split"
    assert explanation["share"] in (0.75, 0.25)
    assert f"{explanation['share'] * 100:.0f} % of visitors" in explanation["summary"]


def test_a_model_decision_lists_the_features_that_pushed_it(client):
    version = model_slot_trained()
    body = post(
        client,
        {"slots": ["explained-hero"], "context": {"device": "mobile", "hour": 20}, "explain": True},
    ).json()
    decision = body["decisions"][0]
    explanation = documented(decision["explanation"])

    assert explanation["policy"] == "model"
    assert explanation["policy_version"] == str(version.pk)
    assert explanation["reason"] in ("model", "explore")
    assert explanation["relative_to"] == 3
    assert 0 < explanation["score"] < 1
    assert explanation["features"], "a model's choice names the features behind it"
    labels = {f["label"] for f in explanation["features"]}
    assert labels & {"Device", "The variant itself"} or any(label.startswith("Variant:") for label in labels)
    for feature in explanation["features"]:
        assert feature["direction"] == ("up" if feature["contribution"] > 0 else "down")
    if decision["variant"]["key"] == "b":  # mobile visitors' favourite, as the model learned
        assert explanation["reason"] == "model"
        assert "expects this variant to do best" in explanation["summary"]


def test_several_slots_are_each_explained(client):
    slot_create("first-hero")
    slot_create("second-hero", strategy="split")
    body = post(client, {"slots": ["first-hero", "second-hero"], "explain": True}).json()
    assert [d["explanation"]["policy"] for d in body["decisions"]] == ["fixed", "split"]


@pytest.mark.parametrize("value", ["yes", 1, "true", None, [], {}])
def test_a_bad_explain_value_is_a_400_naming_the_field(client, value):
    slot_create("plain-hero")
    response = post(client, {"slots": ["plain-hero"], "explain": value})
    assert response.status_code == 400
    assert "explain" in response.json()
    assert DecisionLog.objects.count() == 0


def test_the_schema_documents_the_flag_and_the_explanation(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    assert components["DecisionsInput"]["properties"]["explain"]["type"] == "boolean"
    assert "explanation" in components["DecisionOutput"]["properties"]
    assert {"summary", "features", "segment", "experiment"} <= set(components["Explanation"]["properties"])
