"""A visit's traffic source lasts the visit: the UTM parameters or the outside referrer that brought a visitor
keep their segment on the next pages, which have neither, until the visit ends; kept only with personalization
consent, never for a crawler, and only as labels and a host."""

from __future__ import annotations

import json
import time

import pytest
from django.core.cache import cache

from tests.conftest import IPHONE
from tests.factories.slots import segment_create, slot_create
from tracking.visitors import visit_key

pytestmark = pytest.mark.django_db

INSIDE = "http://testserver/product/"  # a page of this site: the referrer of every next page
HERO = 'data-tailor-variant="hero-{}"'


def hero(response) -> str:
    html = response.content.decode()
    for variant in ("newsletter", "mobile", "welcome-back", "default"):
        if HERO.format(variant) in html:
            return variant
    raise AssertionError(html)


def test_a_utm_segment_holds_on_the_next_page_until_the_visit_ends(client, demo, monkeypatch):
    assert hero(client.get("/?utm_source=newsletter")) == "newsletter"
    assert hero(client.get("/", HTTP_REFERER=INSIDE)) == "newsletter"  # no parameter: the visit's source
    assert hero(client.get("/", HTTP_REFERER=INSIDE)) == "newsletter"

    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 31 * 60)  # past VISIT_TIMEOUT_SECONDS: a new visit
    assert hero(client.get("/", HTTP_REFERER=INSIDE)) == "welcome-back"


def test_a_landing_page_that_personalizes_nothing_starts_the_source_and_a_new_source_replaces_it(client, demo):
    client.get("/missing-page/?utm_source=newsletter&utm_medium=email")  # a 404: no slot read the visitor
    assert hero(client.get("/", HTTP_REFERER=INSIDE)) == "newsletter"

    assert hero(client.get("/?utm_source=partner", HTTP_REFERER="https://partner.example/deals")) == "default"
    assert hero(client.get("/", HTTP_REFERER=INSIDE)) == "default"


def test_an_outside_referrers_host_lasts_the_visit_not_its_url(client, db):
    mail = segment_create("from-mail", [{"type": "referrer", "value": {"host": "mail.example.com", "pattern": ""}}])
    slot_create("offer", strategy="rules", default="a", rules=[("from-mail", "b")], segments={"from-mail": mail})

    def offer(**headers) -> str:
        body = json.dumps({"slots": ["offer"]})
        answer = client.post("/api/v1/decisions/", body, content_type="application/json", **headers)
        return answer.json()["decisions"][0]["variant"]["key"]

    client.get("/", HTTP_REFERER="https://mail.example.com/read/ann@example.org?token=secret")
    assert offer(HTTP_REFERER=INSIDE) == "b"
    entry = cache.get(visit_key(client.cookies["tailor_vid"].value))
    assert entry[2] == (("referrer_host", "mail.example.com"),)  # the host only: no path, no query
    assert "ann@" not in repr(entry)


def test_the_source_is_bounded_and_kept_only_with_consent_and_never_for_a_crawler(client, demo):
    from django.test import Client

    client.get("/?utm_source=" + "n" * 5000 + "&utm_term=private-search&utm_campaign=spring", HTTP_USER_AGENT=IPHONE)
    count, _, source = cache.get(visit_key(client.cookies["tailor_vid"].value))
    assert count == 1
    assert dict(source) == {"utm_source": "n" * 200, "utm_campaign": "spring"}  # utm_term is not kept

    withheld = Client()
    withheld.cookies["tailor_consent"] = "a1p0"
    withheld.get("/?utm_source=newsletter")
    assert len(cache.get(visit_key(withheld.cookies["tailor_vid"].value))) == 2  # (count, last request): no source

    crawler = Client(HTTP_USER_AGENT="Googlebot/2.1 (+http://www.google.com/bot.html)")
    crawler.get("/?utm_source=newsletter")
    assert len(cache.get(visit_key(crawler.cookies["tailor_vid"].value))) == 2


def test_the_page_a_cached_visit_came_from_starts_the_source_through_the_decisions_api(client, demo):
    """Cache-friendly mode: the page never reached the site; tracker.js reports its UTM labels and referrer."""

    def ask(context: dict) -> str:
        body = json.dumps({"slots": ["home-hero"], "context": context})
        answer = client.post("/api/v1/decisions/", body, content_type="application/json", HTTP_REFERER=INSIDE)
        return answer.json()["decisions"][0]["variant"]["key"]

    assert ask({"utm_source": "newsletter", "referrer": "https://mail.example.com/x"}) == "hero-newsletter"
    assert ask({}) == "hero-newsletter"  # the next page of the visit, with neither
    assert hero(client.get("/", HTTP_REFERER=INSIDE)) == "newsletter"
