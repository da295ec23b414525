"""Cross-site requests: a page on another site cannot change a visitor's state through Tailor's API.

State-changing endpoints (consent, events, decisions, erasure) refuse a request whose ``Origin`` is
another site's, or that the browser marks ``Sec-Fetch-Site: cross-site`` or ``same-site``, unless the
origin is allow-listed for CORS. Same-origin pages and clients that are not browsers (no ``Origin``, no
``Sec-Fetch-Site``) pass.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tracking.models import Consent, DecisionLog, Event

pytestmark = pytest.mark.django_db

CONSENT = "/api/v1/consent/"
EVENTS = "/api/v1/events/"
DECISIONS = "/api/v1/decisions/"
ME = "/api/v1/visitors/me/"
EVIL = "https://evil.example"


def event() -> dict:
    return {"id": str(uuid.uuid4()), "type": "click", "ts": int(time.time() * 1000)}


def send(client, method: str, url: str, **headers):
    """The request each endpoint takes, as JSON."""
    bodies = {
        CONSENT: {"analytics": True, "personalization": True},
        EVENTS: {"events": [event()]},
        DECISIONS: {"slots": ["home-hero"]},
    }
    if method == "delete":
        return client.delete(url, **headers)
    return client.post(url, data=json.dumps(bodies[url]), content_type="application/json", **headers)


def test_a_cross_site_form_cannot_opt_an_opted_out_visitor_back_in(client, demo):
    visitor = client.get("/").cookies["tailor_vid"].value
    client.post(CONSENT, data={"analytics": False, "personalization": False}, content_type="application/json")
    assert client.cookies["tailor_consent"].value == "a0p0"

    # What an attacker's page auto-submits: form-encoded, with the browser's cross-site marks (and no
    # SameSite=Lax cookies, which the browser withholds from a cross-site POST).
    attacker = type(client)()
    response = attacker.post(
        CONSENT,
        data="analytics=true&personalization=true",
        content_type="application/x-www-form-urlencoded",
        HTTP_ORIGIN=EVIL,
        HTTP_SEC_FETCH_SITE="cross-site",
        HTTP_SEC_FETCH_MODE="navigate",
    )

    assert response.status_code == 403
    assert "cross-site" in response.json()["detail"]
    assert EVIL in response.json()["detail"]
    assert "tailor_vid" not in response.cookies
    assert "tailor_consent" not in response.cookies
    assert [(str(c.visitor_id), c.analytics, c.personalization) for c in Consent.objects.all()] == [
        (visitor, False, False)
    ]


STATE_CHANGING = [("post", CONSENT), ("post", EVENTS), ("post", DECISIONS), ("delete", ME)]


@pytest.mark.parametrize(("method", "url"), STATE_CHANGING)
@pytest.mark.parametrize(
    "marks",
    [
        {"HTTP_ORIGIN": EVIL},
        {"HTTP_ORIGIN": EVIL, "HTTP_SEC_FETCH_SITE": "cross-site"},
        {"HTTP_SEC_FETCH_SITE": "cross-site"},  # a browser that left Origin out
        {"HTTP_ORIGIN": "https://shop.testserver", "HTTP_SEC_FETCH_SITE": "same-site"},  # a sibling subdomain
        {"HTTP_ORIGIN": "null"},  # a sandboxed frame or a data: page
        {"HTTP_ORIGIN": "https://testserver"},  # another scheme is another origin
    ],
    ids=["origin", "origin+fetch-site", "fetch-site-only", "same-site", "null-origin", "other-scheme"],
)
def test_state_changing_endpoints_refuse_cross_site_requests(client, method, url, marks):
    """Refused before the body is read: no slot, event or consent is needed to see it."""
    visitor = str(uuid.uuid4())
    client.cookies["tailor_vid"] = visitor

    response = send(client, method, url, **marks)

    assert response.status_code == 403, response.content
    assert "cross-site" in response.json()["detail"]
    assert (Consent.objects.count(), Event.objects.count(), DecisionLog.objects.count()) == (0, 0, 0)
    assert "tailor_vid" not in response.cookies
    assert client.cookies["tailor_vid"].value == visitor


PASSING = [
    {},  # not a browser: curl, a server-side frontend, a mobile app
    {"HTTP_ORIGIN": "http://testserver", "HTTP_SEC_FETCH_SITE": "same-origin"},
    {"HTTP_SEC_FETCH_SITE": "same-origin"},
    {"HTTP_SEC_FETCH_SITE": "none"},  # typed into the address bar
    {"HTTP_ORIGIN": "https://shop.example", "HTTP_SEC_FETCH_SITE": "cross-site"},  # allow-listed for CORS
    {"HTTP_ORIGIN": "https://app.brand.example", "HTTP_SEC_FETCH_SITE": "cross-site"},  # by CORS regex
    {"HTTP_ORIGIN": "https://testserver", "HTTP_SEC_FETCH_SITE": "same-origin"},  # TLS ended by a proxy
    {"HTTP_ORIGIN": "https://admin.partner.example", "HTTP_SEC_FETCH_SITE": "cross-site"},  # CSRF wildcard
]
PASSING_IDS = [
    "no-browser",
    "same-origin",
    "fetch-site-only",
    "user-initiated",
    "cors-allowed",
    "cors-regex",
    "csrf-trusted",
    "csrf-trusted-wildcard",
]


@pytest.fixture
def cors(settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example"]
    settings.CORS_ALLOWED_ORIGIN_REGEXES = [r"^https://\w+\.brand\.example$"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://testserver", "https://*.partner.example"]


@pytest.mark.parametrize(("method", "url"), [m for m in STATE_CHANGING if m[1] != DECISIONS])
@pytest.mark.parametrize("marks", PASSING, ids=PASSING_IDS)
def test_same_origin_allow_listed_and_non_browser_requests_pass(client, cors, method, url, marks):
    client.cookies["tailor_vid"] = str(uuid.uuid4())
    response = send(client, method, url, **marks)
    assert response.status_code in (200, 202), response.content


def test_decisions_pass_for_same_origin_allow_listed_and_non_browser_requests(client, cors, demo):
    for marks in PASSING:
        response = send(client, "post", DECISIONS, **marks)
        assert response.status_code == 200, (marks, response.content)


def test_reading_is_not_refused(client):
    """A GET changes nothing, and without CORS the other site cannot read the answer."""
    client.cookies["tailor_vid"] = str(uuid.uuid4())
    assert client.get(ME, HTTP_ORIGIN=EVIL, HTTP_SEC_FETCH_SITE="cross-site").status_code == 200


def test_allow_all_origins_does_not_open_state_changes_to_every_site(client, settings):
    """CORS_ALLOW_ALL_ORIGINS lets any site read public answers; it is not a list of trusted sites."""
    settings.CORS_ALLOW_ALL_ORIGINS = True
    assert send(client, "post", CONSENT, HTTP_ORIGIN=EVIL).status_code == 403
