"""Context extraction from a request lives in one place and is bounded."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import RequestFactory
from freezegun import freeze_time

from tests.conftest import DESKTOP, IPHONE
from tracking.context import request_context
from tracking.visitors import VisitorState

VISITOR = VisitorState(id="v1", visit_count=2, is_returning=True)


def ctx(path="/", **meta):
    return request_context(RequestFactory().get(path, **meta), VISITOR)


@pytest.mark.parametrize(
    ("agent", "device", "browser", "os"),
    [
        (IPHONE, "mobile", "Mobile Safari", "iOS"),
        (DESKTOP, "desktop", "Chrome", "Linux"),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
            "tablet",
            "Mobile Safari UI/WKWebView",
            "iOS",
        ),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", "bot", "Googlebot", "Other"),
    ],
)
def test_user_agent_parsing(agent, device, browser, os):
    context = ctx(HTTP_USER_AGENT=agent)
    assert (context["device"], context["browser"], context["os"]) == (device, browser, os)


def test_referrer_utm_query_and_country(settings):
    context = ctx(
        "/?utm_source=newsletter&utm_campaign=spring&promo=1",
        HTTP_REFERER="https://www.Google.com/search?q=x",
        HTTP_CF_IPCOUNTRY="nl",
    )
    assert context["referrer_host"] == "www.google.com"
    assert context["utm_source"] == "newsletter"
    assert context["query"] == {"utm_source": "newsletter", "utm_campaign": "spring", "promo": "1"}
    assert context["country"] == "NL"
    assert context["visit_count"] == 2
    assert context["is_returning"]


def test_country_header_is_configurable(settings):
    settings.TAILOR = {**settings.TAILOR, "COUNTRY_HEADER": "HTTP_X_COUNTRY"}
    assert ctx(HTTP_X_COUNTRY="de", HTTP_CF_IPCOUNTRY="nl")["country"] == "DE"


def test_hour_and_weekday_are_in_the_site_time_zone(settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    with freeze_time(dt.datetime(2026, 11, 29, 20, 30, tzinfo=dt.UTC)):  # Sunday 20:30 UTC
        context = ctx()
    assert (context["hour"], context["weekday"]) == (5, 0)  # Monday 05:30 in Tokyo


def test_everything_from_the_visitor_is_bounded():
    query = "&".join(f"p{i}={'x' * 1000}" for i in range(100))
    context = ctx(f"/?{query}", HTTP_REFERER="https://e.example/" + "y" * 5000)
    assert len(context["query"]) == 20
    assert all(len(v) == 200 for v in context["query"].values())
    assert len(context["referrer"]) == 200


@pytest.mark.parametrize("referer", ["http://[::1", "https://[example.org/", "http://exa\uff03mple.com/"])
def test_a_referer_that_does_not_parse_is_absent(referer):
    context = ctx(HTTP_REFERER=referer)
    assert (context["referrer"], context["referrer_host"]) == ("", "")


def test_a_malformed_referrer_in_the_engine_context_has_no_host():
    from personalization.engine import Context

    assert Context.from_mapping({"referrer": "http://[::1"}).referrer_host == ""


def test_nul_is_stripped_from_query_names_values_and_headers(settings):
    settings.TAILOR = {**settings.TAILOR, "CITY_HEADER": "HTTP_X_CITY"}
    context = ctx(
        "/?q=%00&utm_source=mail%00box&%00=x&na%00me=v",
        HTTP_USER_AGENT="\x00" + DESKTOP,
        HTTP_REFERER="https://ref.example/\x00path",
        HTTP_CF_IPCOUNTRY="\x00nl",
        HTTP_X_CITY="Lyo\x00n",
    )
    assert context["query"] == {"q": "", "utm_source": "mailbox", "name": "v"}
    assert context["utm_source"] == "mailbox"
    assert (context["device"], context["browser"]) == ("desktop", "Chrome")
    assert context["referrer"] == "https://ref.example/path"
    assert context["country"] == "NL"
    assert context["attributes"] == {"city": "Lyon"}
    assert "\x00" not in repr(context)


def test_every_utm_parameter_the_engine_knows_reaches_its_context():
    """The request hands over every utm_* parameter; the engine's UTM_PARAMS (the one list) says which count."""
    from personalization.engine import Context
    from personalization.engine.context import UTM_PARAMS

    query = "&".join(f"utm_{name}={name}-value" for name in UTM_PARAMS)
    context = Context.from_mapping(ctx(f"/?{query}&utm_unknown=x&source=y"))
    assert dict(context.utm) == {name: f"{name}-value" for name in UTM_PARAMS}
