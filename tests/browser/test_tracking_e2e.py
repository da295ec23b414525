"""End to end in a real Chromium: the demo page, the tracker, ingest, attribution and features."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.waiting import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_visitor_events_arrive_attributed_and_change_features(browser, live_server, seeded, settings):
    from tracking.feature_store import visitor_features_get
    from tracking.models import DecisionLog, Event

    settings.TAILOR = {**settings.TAILOR, "TRACKER_OPTIONS": {"flushInterval": 500}}
    context = browser.new_context(viewport={"width": 1200, "height": 700})
    page = context.new_page()
    page.goto(live_server.url + "/")
    hero = page.locator('[data-tailor-slot="home-hero"]')
    expect(hero).to_be_visible()
    decision_id = hero.get_attribute("data-tailor-decision")
    visitor_id = next(c["value"] for c in context.cookies() if c["name"] == "tailor_vid")
    assert DecisionLog.objects.get(id=decision_id).variant_key == "hero-default"

    page.wait_for_timeout(1300)  # half visible for a second: an impression
    hero.hover()
    page.wait_for_timeout(400)
    page.mouse.move(5, 690)
    page.mouse.wheel(0, 2000)
    page.wait_for_timeout(300)
    page.mouse.wheel(0, -2000)
    hero.get_by_role("link").click()  # "See the product": a click, then the page is left
    page.wait_for_url("**/product/")
    context.close()

    def arrived():
        kinds = set(Event.objects.filter(visitor_id=visitor_id).values_list("type", flat=True))
        return kinds if {"impression", "click", "hover", "scroll", "dwell"} <= kinds else None

    wait_for(arrived)
    hero_events = Event.objects.filter(visitor_id=visitor_id, decision_id=decision_id)
    assert {"impression", "click", "hover"} <= set(hero_events.values_list("type", flat=True))
    assert hero_events.filter(type="impression").count() == 1
    # The 400 ms hover; clicking the link moves the pointer back over the hero, which may add a second.
    assert hero_events.filter(type="hover").order_by("ts").first().value >= 100
    assert Event.objects.filter(visitor_id=visitor_id, type="scroll").first().value > 0
    features = visitor_features_get(visitor_id)
    assert features["clicks_last_hour"] >= 1
    assert features["avg_scroll_depth"] is not None
    assert features["avg_dwell_s"] is not None
