"""Cache-friendly mode in Chromium, through a real caching nginx: the swap, the slot's box, the impressions.

Two visitors (a phone and a desktop) open the same URL through the proxy: the second page is the proxy's stored
copy (HIT), the same bytes as the first; each visitor's tracker asks the decisions API once for both slots, swaps
their own variant in, keeps the slot's box (the phone's variant is shorter than the default the page holds, so
without the kept height the offer below would move up) with no layout shift, and sends its impression with the
decision id the API returned. Without tracker.js, the CSS timeout shows the default.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from devtools.proxy import CachingProxy
from tests.browser.waiting import read_retrying, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
LONG_BODY = "<p>" + " ".join(["Everything you need to tailor a page, and a lot more words to read."] * 12) + "</p>"
# Every layout shift the page makes (none is caused by input here).
SHIFTS = """
window.__shifts = 0;
new PerformanceObserver((list) => list.getEntries().forEach((e) => { if (!e.hadRecentInput) window.__shifts += e.value; }))
  .observe({ type: "layout-shift", buffered: true });
"""
BOXES = """() => {
  const box = (key) => document.querySelector(`[data-tailor-slot="${key}"]`).getBoundingClientRect();
  const hero = document.querySelector('[data-tailor-slot="cdn-hero"]');
  return { height: box("cdn-hero").height, width: box("cdn-hero").width, offerTop: box("cdn-offer").top,
           visibility: getComputedStyle(hero).visibility, pending: hero.hasAttribute("data-tailor-pending") };
}"""


@pytest.fixture
def shop(seeded, settings):
    from tests.factories.slots import hero_params, page_with_slots, segment_create, slot_create

    settings.TAILOR = {
        **settings.TAILOR,
        "CACHE_FRIENDLY": True,
        "CACHE_FRIENDLY_HIDE_MS": 600,
        "VISITOR_COOKIE_SECURE": False,
        "TRACKER_OPTIONS": {"flushInterval": 300, "impressionDelay": 200},
    }
    from content.services import slot_publish

    mobile = segment_create("cdn-mobile", [{"type": "device", "value": {"devices": ["mobile"]}}])
    slot_publish(
        {
            "key": "cdn-hero",
            "name": "CDN hero",
            "strategy": "rules",
            "default_variant": "plain",
            "variants": [
                ("plain", "Plain", 1, hero_params("Headline plain", body=LONG_BODY)),
                ("mobile", "Mobile", 1, hero_params("Headline mobile", body="<p>Short.</p>")),
            ],
            "rules": [("mobile", "mobile")],
        },
        {"mobile": mobile.pk},
    )
    slot_create("cdn-offer", variants=[("offer", 1)], default="offer")
    return page_with_slots("cdn-hero", "cdn-offer", slug="cdn-shop")


@pytest.fixture
def proxy(live_server) -> Iterator[CachingProxy]:
    port = int(live_server.url.rsplit(":", 1)[1])
    proxy = CachingProxy.start({"site": port})
    yield proxy
    proxy.stop()


def visit(browser, url: str, **options):
    """Open ``url``; the tracker's decisions request is held until the page has loaded and its boxes are measured."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, **options)
    page = context.new_page()
    page.add_init_script(SHIFTS)
    events: list[dict] = []
    page.on(
        "request",
        lambda r: (
            events.extend(json.loads(r.post_data or "{}").get("events", [])) if "/api/v1/events/" in r.url else None
        ),
    )
    held = []
    page.route("**/api/v1/decisions/", lambda route: held.append(route))
    response = page.goto(url, wait_until="load")
    wait_for(lambda: held)
    before = page.evaluate(BOXES)
    with page.expect_response("**/api/v1/decisions/") as answer:
        held[0].continue_()
    return context, page, response, answer.value, events, before


def test_each_visitor_gets_their_variant_swapped_into_the_shared_page_without_layout_shift(browser, shop, proxy):
    from tracking.models import Event

    url = f"http://localhost:{proxy.ports['site']}{shop.url}"
    seen = []
    for agent in (IPHONE, None):
        context, page, response, api, events, before = visit(browser, url, **({"user_agent": agent} if agent else {}))
        hero = page.locator('[data-tailor-slot="cdn-hero"]').first
        expect(hero.locator("[data-tailor-decision]")).to_be_visible()
        expect(hero).not_to_have_attribute("data-tailor-pending", "")
        body = api.json()
        assert api.request.method == "POST"
        assert sorted(json.loads(api.request.post_data)["slots"]) == ["cdn-hero", "cdn-offer"]  # one request
        decision = next(d for d in body["decisions"] if d["slot"] == "cdn-hero")
        shown = hero.locator("[data-tailor-decision]").get_attribute("data-tailor-decision")
        assert shown == decision["decision_id"]
        assert decision["variant"]["key"] == ("mobile" if agent else "plain")
        expect(hero).to_contain_text("Headline mobile" if agent else "Headline plain")

        assert before["pending"]
        assert before["visibility"] == "hidden"  # the default never showed while the answer was on its way
        after = page.evaluate(BOXES)
        assert not after["pending"]
        assert after["visibility"] == "visible"
        assert abs(after["height"] - before["height"]) < 1, (before, after)  # the slot kept its size
        assert abs(after["width"] - before["width"]) < 1
        assert abs(after["offerTop"] - before["offerTop"]) < 1, "the content below the slot moved"
        assert page.evaluate("window.__shifts") == 0

        # The page itself set no cookie; the API's answer did, with the id it returned.
        assert "tailor_vid" not in (response.headers.get("set-cookie") or "")
        cookies = {c["name"]: c["value"] for c in context.cookies()}
        assert cookies["tailor_vid"] == body["visitor_id"]
        for _ in range(75):  # the tracker's events, as Chromium sent them (Playwright reports them while it waits)
            if any(e["type"] == "impression" and e.get("decision_id") == shown for e in events):
                break
            page.wait_for_timeout(200)
        assert any(e["type"] == "impression" and e.get("decision_id") == shown for e in events), events
        impressions = Event.objects.filter(decision_id=shown, type="impression")
        wait_for(lambda qs=impressions: read_retrying(qs.exists))
        seen.append((response.headers.get("x-cache-status"), response.text(), shown, body["visitor_id"]))
        context.close()

    (first_cache, first_html, first_id, first_vid), (second_cache, second_html, second_id, second_vid) = seen
    assert (first_cache, second_cache) == ("MISS", "HIT")
    assert first_html == second_html  # the proxy's one copy
    assert first_id != second_id
    assert first_vid != second_vid


def test_without_the_tracker_the_default_shows_after_the_timeout(browser, shop, proxy):
    url = f"http://localhost:{proxy.ports['site']}{shop.url}"
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.route("**/tracker.js", lambda route: route.abort())  # a blocker, a failed CDN: no JavaScript of ours
    page.goto(url, wait_until="domcontentloaded")
    assert page.evaluate(BOXES)["visibility"] == "hidden"
    hero = page.locator('[data-tailor-slot="cdn-hero"]')
    expect(hero).to_be_visible(timeout=3000)  # CACHE_FRIENDLY_HIDE_MS is 600
    expect(hero).to_contain_text("Headline plain")
    context.close()
