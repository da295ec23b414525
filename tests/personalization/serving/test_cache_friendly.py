"""Cache-friendly mode: pages identical for every visitor and shareable; the decisions API personalizes them."""

from __future__ import annotations

import re

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.utils.cache import get_max_age

from content.services import slot_publish
from tests.factories.slots import hero_params, page_with_slots, segment_create, slot_create
from tracking.models import DecisionLog
from tracking.visitors import visitor_id_new

pytestmark = pytest.mark.django_db

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"


@pytest.fixture
def cache_friendly(settings):
    settings.TAILOR = {**settings.TAILOR, "CACHE_FRIENDLY": True}


@pytest.fixture
def shop(db):
    """A rules slot that gives mobile, newsletter and search-engine visitors their own variant, on a page."""
    segments = {
        "mobile": segment_create("mobile", [{"type": "device", "value": {"devices": ["mobile"]}}]),
        "news": segment_create(
            "news", [{"type": "utm", "value": {"param": "source", "operator": "equals", "value": "newsletter"}}]
        ),
        "search": segment_create("search", [{"type": "referrer", "value": {"host": "search.example", "pattern": ""}}]),
    }
    slot_create(
        "hero",
        strategy="rules",
        variants=[("plain", 1), ("mobile", 1), ("news", 1), ("search", 1)],
        default="plain",
        rules=[("search", "search"), ("news", "news"), ("mobile", "mobile")],
        segments=segments,
    )
    return page_with_slots("hero", slug="shop")


def cache_control(response) -> set[str]:
    return {part.strip() for part in response.headers.get("Cache-Control", "").split(",") if part.strip()}


def test_every_visitor_gets_the_same_shareable_page_with_the_default_in_a_marker(client, cache_friendly, shop):
    pages = [
        client.get(shop.url, HTTP_USER_AGENT=DESKTOP),  # a new visitor
        client.get(shop.url + "?utm_source=newsletter", HTTP_USER_AGENT=IPHONE),
    ]
    client.cookies["tailor_vid"] = visitor_id_new()  # a returning visitor
    pages.append(client.get(shop.url, HTTP_USER_AGENT=IPHONE, HTTP_REFERER="https://search.example/?q=x"))
    bodies = {page.content for page in pages}
    assert len(bodies) == 1, "the HTML differs between visitors"
    html = pages[0].content.decode()
    assert re.search(r'<div data-tailor-slot="hero" data-tailor-pending><div class="tailor-slot tailor-hero" ', html)
    assert "Headline plain" in html
    assert "data-tailor-decision" not in html
    for page in pages:
        assert "tailor_vid" not in page.cookies
        assert "X-Tailor-Visitor" not in page
        assert {"public", "max-age=60", "s-maxage=600"} <= cache_control(page)
        assert "private" not in cache_control(page)
        assert "Cookie" not in page.headers.get("Vary", "")
    assert not DecisionLog.objects.exists(), "a page served to everyone logged a decision for someone"


def test_the_decisions_api_gives_each_visitor_their_variant_and_their_id(client, cache_friendly, shop):
    page = client.get(shop.url)
    assert "tailor_vid" not in page.cookies
    # What tracker.js sends for a page reached from a search engine through a newsletter link, on a phone.
    answer = client.post(
        "/api/v1/decisions/",
        {"slots": ["hero"], "context": {"query": {"utm_source": "newsletter"}, "utm_source": "newsletter"}},
        content_type="application/json",
        HTTP_USER_AGENT=IPHONE,
        HTTP_REFERER="http://testserver" + shop.url,
    )
    assert answer.status_code == 200
    body = answer.json()
    [decision] = body["decisions"]
    assert decision["variant"]["key"] == "news"
    assert f'data-tailor-decision="{decision["decision_id"]}"' in decision["html"]
    assert answer.cookies["tailor_vid"].value == body["visitor_id"]  # the id comes with the API's answer
    assert "private" in cache_control(answer)
    assert str(DecisionLog.objects.get().visitor_id) == body["visitor_id"]


def test_the_page_referrer_sent_by_the_tracker_decides_not_the_api_requests_own(client, shop):
    # The API request's Referer is the page itself; tracker.js sends the page's own referrer in the context.
    answer = client.post(
        "/api/v1/decisions/",
        {"slots": ["hero"], "context": {"referrer": "https://search.example/?q=shoes"}},
        content_type="application/json",
        HTTP_USER_AGENT=DESKTOP,
        HTTP_REFERER="http://testserver" + shop.url,
    )
    assert answer.status_code == 200
    assert answer.json()["decisions"][0]["variant"]["key"] == "search"
    assert DecisionLog.objects.get().context["referrer_host"] == "search.example"


def test_without_the_mode_the_page_is_personal_and_private(client, shop):
    page = client.get(shop.url + "?utm_source=newsletter", HTTP_USER_AGENT=DESKTOP)
    html = page.content.decode()
    assert "data-tailor-decision" in html
    assert "Headline news" in html
    assert "data-tailor-pending" not in html
    assert "private" in cache_control(page)
    assert page.cookies["tailor_vid"].value


def test_a_preview_is_never_served_cache_friendly(cache_friendly, shop):
    request = RequestFactory().get(shop.url, HTTP_USER_AGENT=IPHONE)
    request.is_preview = True  # what Wagtail sets on its preview requests
    html = Template('{% load personalization %}{% personalize "hero" %}').render(Context({"request": request}))
    assert "data-tailor-decision" in html
    assert "data-tailor-pending" not in html


def test_the_default_in_the_marker_holds_no_visitor_data(client, cache_friendly, django_user_model):
    slot_publish(
        {
            "key": "greeting",
            "name": "Greeting",
            "strategy": "fixed",
            "default_variant": "hello",
            "variants": [("hello", "Hello", 1, hero_params("Hello {visitor.first_name|friend}!"))],
        }
    )
    page = page_with_slots("greeting", slug="greet")
    client.force_login(django_user_model.objects.create_user("ann", password="pw", first_name="Ann"))
    html = client.get(page.url).content.decode()
    assert "Hello friend!" in html
    assert "Ann" not in html


def test_the_head_tag_hides_pending_slots_for_a_bounded_time_only_in_the_mode(settings):
    template = Template("{% load tracking %}{% tracking_head %}")
    assert template.render(Context({})) == ""
    settings.TAILOR = {**settings.TAILOR, "CACHE_FRIENDLY": True, "CACHE_FRIENDLY_HIDE_MS": 500}
    css = template.render(Context({}))
    assert "[data-tailor-pending]{visibility:hidden;animation:tailor-reveal 0s 500ms forwards}" in css
    assert "<noscript>" in css


def test_a_page_the_site_marks_private_stays_private(client, cache_friendly, shop):
    from django.utils.cache import patch_cache_control
    from wagtail import hooks

    def private(page, request, serve_args, serve_kwargs):
        response = page.serve(request, *serve_args, **serve_kwargs)
        patch_cache_control(response, private=True, max_age=30)
        return response

    with hooks.register_temporarily("before_serve_page", private):
        response = client.get(shop.url)
    assert "private" in cache_control(response)
    assert "public" not in cache_control(response)
    assert get_max_age(response) == 30
