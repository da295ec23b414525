"""Visitor identity: a random first-party id in a cookie or header, never a fingerprint."""

from __future__ import annotations

import uuid

import pytest

from tracking.visitors import visit_count_touch

pytestmark = pytest.mark.django_db


def test_new_visitor_gets_a_random_lax_httponly_cookie(client, demo):
    response = client.get("/")
    cookie = response.cookies["tailor_vid"]
    uuid.UUID(cookie.value)
    assert cookie["samesite"] == "Lax"
    assert cookie["httponly"]
    assert not cookie["secure"]
    assert int(cookie["max-age"]) > 300 * 24 * 3600
    assert response.headers["X-Tailor-Visitor"] == cookie.value


def test_cookie_is_secure_in_production(client, demo, settings):
    settings.TAILOR = {**settings.TAILOR, "VISITOR_COOKIE_SECURE": True}
    assert client.get("/").cookies["tailor_vid"]["secure"]


def test_known_visitor_keeps_their_id_and_gets_no_new_cookie(client, demo):
    first = client.get("/").cookies["tailor_vid"].value
    again = client.get("/")
    assert "tailor_vid" not in again.cookies
    assert "data-tailor-decision" in again.content.decode()
    from tracking.models import DecisionLog

    assert {str(v) for v in DecisionLog.objects.values_list("visitor_id", flat=True)} == {first}


def test_invalid_cookie_is_replaced(client, demo):
    client.cookies["tailor_vid"] = "<script>"
    response = client.get("/")
    uuid.UUID(response.cookies["tailor_vid"].value)


def test_headless_header_is_used_and_no_cookie_set(client, demo):
    visitor = str(uuid.uuid4())
    response = client.get("/", HTTP_X_TAILOR_VISITOR=visitor)
    assert "tailor_vid" not in response.cookies
    from tracking.models import DecisionLog

    assert str(DecisionLog.objects.first().visitor_id) == visitor


def test_logged_in_user_is_linked_to_their_visitor(client, demo, django_user_model):
    from tracking.models import Visitor

    user = django_user_model.objects.create_user("ada", password="pw-12345-long", first_name="Ada")
    client.force_login(user)
    response = client.get("/")
    visitor_id = response.cookies["tailor_vid"].value
    assert "Hello Ada, meet Tailor" in response.content.decode()
    assert Visitor.objects.get(id=visitor_id).user == user


def test_visits_are_counted_after_the_visit_timeout():
    visitor = str(uuid.uuid4())
    assert visit_count_touch(visitor, now=1000.0) == 1
    assert visit_count_touch(visitor, now=1100.0) == 1
    assert visit_count_touch(visitor, now=1100.0 + 31 * 60) == 2


def test_returning_visitor_sees_the_welcome_back_variant(client, demo, monkeypatch):
    import time

    client.get("/")
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    assert 'data-tailor-variant="hero-welcome-back"' in client.get("/").content.decode()
