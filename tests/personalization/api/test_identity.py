"""Who the decisions API serves: the session's user, and a visitor id that is a random UUID."""

from __future__ import annotations

import json
import uuid

import pytest

from tracking.models import DecisionLog, Visitor

pytestmark = pytest.mark.django_db

URL = "/api/v1/decisions/"


def post(client, body, **extra):
    return client.post(URL, data=json.dumps(body), content_type="application/json", **extra)


def test_a_logged_in_visitor_is_known_to_the_api(client, demo, django_user_model):
    """A trigger swap or a headless page on this site asks with the session cookie: the user counts."""
    ada = django_user_model.objects.create_user("ada", password="pw-12345-long", first_name="Ada")
    client.force_login(ada)
    visitor = client.get("/").cookies["tailor_vid"].value

    answer = post(client, {"slots": ["home-hero"]}, HTTP_ORIGIN="http://testserver", HTTP_SEC_FETCH_SITE="same-origin")

    assert answer.status_code == 200
    hero = answer.json()["decisions"][0]
    assert hero["variant"]["params"]["headline"] == "Hello Ada, meet Tailor"
    logged = DecisionLog.objects.get(id=uuid.UUID(hero["decision_id"]))
    assert logged.context["is_authenticated"] is True
    assert Visitor.objects.get(id=visitor).user == ada


def test_an_anonymous_visitor_is_still_served(client, demo):
    hero = post(client, {"slots": ["home-hero"]}).json()["decisions"][0]
    assert hero["variant"]["params"]["headline"] == "Hello there, meet Tailor"


@pytest.mark.parametrize(
    "visitor_id",
    [
        "123",
        123,
        "00000000-0000-0000-0000-000000000000",
        str(uuid.uuid1()),
        "{" + str(uuid.uuid4()) + "}",
        "urn:uuid:" + str(uuid.uuid4()),
        None,
    ],
)
def test_body_visitor_id_follows_the_header_rules(client, demo, visitor_id):
    response = post(client, {"slots": ["home-hero"], "visitor_id": visitor_id})
    assert response.status_code == 400, response.content
    assert "version 4" in json.dumps(response.json()["visitor_id"])
    assert not DecisionLog.objects.exists()


def test_body_visitor_id_is_stored_in_its_one_spelling(client, demo):
    visitor = uuid.uuid4()
    answer = post(client, {"slots": ["home-hero"], "visitor_id": visitor.hex.upper()}).json()
    assert answer["visitor_id"] == str(visitor)
    assert DecisionLog.objects.get().visitor_id == visitor


SAME_ORIGIN = {"HTTP_ORIGIN": "http://testserver", "HTTP_SEC_FETCH_SITE": "same-origin"}


def test_a_logged_in_user_naming_another_visitor_is_anonymous_for_it(client, demo, django_user_model):
    """Naming someone else's id must not tie that visitor to the session's user, nor greet it by name."""
    other = post(client, {"slots": ["home-hero"]}).json()["visitor_id"]  # an anonymous visitor, elsewhere
    client.cookies.clear()
    ada = django_user_model.objects.create_user("ada", password="pw-12345-long", first_name="Ada")
    client.force_login(ada)
    own = client.get("/").cookies["tailor_vid"].value

    answer = post(client, {"slots": ["home-hero"], "visitor_id": other}, **SAME_ORIGIN)

    assert answer.status_code == 200
    assert answer.json()["visitor_id"] == other
    hero = answer.json()["decisions"][0]
    assert hero["variant"]["params"]["headline"] == "Hello there, meet Tailor"
    assert "Ada" not in answer.content.decode()
    logged = DecisionLog.objects.get(id=uuid.UUID(hero["decision_id"]))
    assert logged.context["is_authenticated"] is False
    assert Visitor.objects.get(id=other).user is None
    assert Visitor.objects.get(id=own).user == ada


def test_a_logged_in_user_naming_their_own_visitor_keeps_the_login(client, demo, django_user_model):
    ada = django_user_model.objects.create_user("ada", password="pw-12345-long", first_name="Ada")
    client.force_login(ada)
    own = client.get("/").cookies["tailor_vid"].value

    answer = post(client, {"slots": ["home-hero"], "visitor_id": own}, **SAME_ORIGIN)

    assert answer.json()["decisions"][0]["variant"]["params"]["headline"] == "Hello Ada, meet Tailor"
    assert Visitor.objects.get(id=own).user == ada
