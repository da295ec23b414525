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


# A missing cookie is a new visitor only when the browser would have sent it ---------------------------

CROSS_SITE_POST_BACK = {
    "HTTP_ORIGIN": "https://pay.example",
    "HTTP_SEC_FETCH_SITE": "cross-site",
    "HTTP_SEC_FETCH_MODE": "navigate",
    "HTTP_SEC_FETCH_DEST": "document",
}


@pytest.mark.parametrize(
    "marks",
    [CROSS_SITE_POST_BACK, {}],
    ids=["cross-site-post-back", "post-without-browser-marks"],
)
def test_a_post_without_the_cookie_gets_no_new_id(client, demo, marks):
    """A payment provider's POST-back arrives without the SameSite=Lax cookie: the visitor must not split."""
    from tracking.models import DecisionLog, Visitor

    response = client.post("/", data={"status": "paid"}, **marks)

    assert response.status_code == 200
    assert "data-tailor-decision" in response.content.decode()  # served, and its decisions logged...
    assert "tailor_vid" not in response.cookies
    assert "X-Tailor-Visitor" not in response.headers
    assert set(DecisionLog.objects.values_list("visitor_id", flat=True)) == {None}  # ...for no visitor
    assert not Visitor.objects.exists()


def test_a_cross_site_post_back_keeps_the_visitor_and_their_decisions(client, demo):
    from tracking.models import DecisionLog

    visitor = client.get("/").cookies["tailor_vid"].value
    jar = client.cookies
    client.cookies = type(jar)()  # what the browser sends on a cross-site POST: no Lax cookies
    client.post("/", data={"status": "paid"}, **CROSS_SITE_POST_BACK)
    client.cookies = jar

    again = client.get("/")

    assert "tailor_vid" not in again.cookies
    assert client.cookies["tailor_vid"].value == visitor
    assert set(DecisionLog.objects.values_list("visitor_id", flat=True)) == {uuid.UUID(visitor), None}


@pytest.mark.parametrize(
    ("marks", "issued"),
    [
        (
            {"HTTP_SEC_FETCH_SITE": "cross-site", "HTTP_SEC_FETCH_MODE": "navigate", "HTTP_SEC_FETCH_DEST": "document"},
            True,
        ),
        ({"HTTP_SEC_FETCH_SITE": "none", "HTTP_SEC_FETCH_MODE": "navigate"}, True),
        ({"HTTP_SEC_FETCH_SITE": "same-origin", "HTTP_SEC_FETCH_MODE": "navigate"}, True),
        (
            {"HTTP_SEC_FETCH_SITE": "cross-site", "HTTP_SEC_FETCH_MODE": "navigate", "HTTP_SEC_FETCH_DEST": "iframe"},
            False,
        ),
        (
            {"HTTP_SEC_FETCH_SITE": "cross-site", "HTTP_SEC_FETCH_MODE": "no-cors", "HTTP_SEC_FETCH_DEST": "image"},
            False,
        ),
        ({"HTTP_ORIGIN": "https://elsewhere.example"}, False),  # a CORS fetch from an older browser
    ],
    ids=["link-from-another-site", "typed", "same-origin", "cross-site-frame", "cross-site-image", "cors-get"],
)
def test_a_get_issues_an_id_unless_the_browser_withheld_the_cookie(client, demo, marks, issued):
    """Following a link from a search engine sends Lax cookies, so no cookie there means a new visitor."""
    response = client.get("/", **marks)
    assert ("tailor_vid" in response.cookies) is issued


# Visitor ids are random (version 4) UUIDs ---------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "123",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        str(uuid.uuid1()),  # time-based: a clock and a MAC address, not random
        str(uuid.uuid5(uuid.NAMESPACE_DNS, "example.com")),
        "6ba7b810-9dad-41d1-c0b4-00c04fd430c8",  # version 4 digit, but not the RFC 4122 variant
        "{" + str(uuid.uuid4()) + "}",
        "urn:uuid:" + str(uuid.uuid4()),
        str(uuid.uuid4()).replace("-", "")[:20] + "-" + str(uuid.uuid4()).replace("-", "")[:12],
        str(uuid.uuid4()) + "\x00",
        "",
        None,
    ],
)
def test_visitor_id_parse_refuses_anything_but_a_random_uuid(raw):
    from tracking.visitors import visitor_id_parse

    assert visitor_id_parse(raw) is None


def test_visitor_id_parse_gives_one_spelling_per_visitor():
    from tracking.visitors import visitor_id_parse

    visitor = uuid.uuid4()
    assert visitor_id_parse(str(visitor).upper()) == str(visitor)
    assert visitor_id_parse(visitor.hex) == str(visitor)


@pytest.mark.parametrize("bad", ["123", "00000000-0000-0000-0000-000000000000"])
def test_a_non_random_cookie_or_header_is_not_a_visitor(client, demo, bad):
    from tracking.models import DecisionLog

    client.cookies["tailor_vid"] = bad
    replaced = client.get("/").cookies["tailor_vid"].value
    assert replaced != bad
    headless = type(client)().get("/", HTTP_X_TAILOR_VISITOR=bad)
    assert uuid.UUID(headless.headers["X-Tailor-Visitor"]).version == 4
    assert str(uuid.UUID(int=0)) not in {str(v) for v in DecisionLog.objects.values_list("visitor_id", flat=True)}


@pytest.mark.parametrize("header", ["HTTP_SEC_GPC", "HTTP_DNT"])
def test_a_page_view_asking_not_to_be_tracked_gets_no_id_and_no_personalization(client, demo, header):
    from tracking.models import DecisionLog

    response = client.get("/", **{header: "1"})
    assert response.status_code == 200
    assert "tailor_vid" not in response.cookies
    assert "X-Tailor-Visitor" not in response.headers
    logged = list(DecisionLog.objects.values_list("visitor_id", "policy"))
    assert logged
    assert all(visitor is None and policy == "no-consent" for visitor, policy in logged)
    # A visitor who has an id already keeps it, and is served as without consent while the browser asks.
    known = str(uuid.uuid4())
    client.cookies["tailor_vid"] = known
    client.get("/", **{header: "1"})
    assert not DecisionLog.objects.filter(visitor_id=known).exists()


def test_do_not_track_is_ignored_when_the_site_says_so(client, demo, settings):
    settings.TAILOR = {**settings.TAILOR, "RESPECT_DO_NOT_TRACK": False}
    assert "tailor_vid" in client.get("/", HTTP_DNT="1").cookies
