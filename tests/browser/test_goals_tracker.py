"""Goals in a real Chromium: defined in the database, detected by the unchanged demo templates' tracker, stored."""

from __future__ import annotations

import random
import re
import string

import pytest
from playwright.sync_api import expect

from tests.browser.waiting import read_retrying, wait_for
from tracking.goal_rules import css_selector_problem

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _conversions(visitor_id: str) -> dict[str, list[float | None]]:
    from tracking.models import Event

    def read() -> dict[str, list[float | None]]:
        found: dict[str, list[float | None]] = {}
        for event in Event.objects.filter(visitor_id=visitor_id, type="conversion").order_by("ts"):
            found.setdefault(event.props.get("goal", ""), []).append(event.value)
        return found

    return read_retrying(read)


def test_a_page_goal_and_a_click_goal_arrive_as_conversions(browser, live_server, seeded, settings):
    from tracking.models import Goal
    from tracking.services import goal_publish

    settings.TAILOR = {**settings.TAILOR, "TRACKER_OPTIONS": {"flushInterval": 300}}
    goal_publish(key="product-page", name="Product page", kind="page", match="/product/*", value=10)
    goal_publish(key="hero-cta", name="Hero call to action", kind="click", match='[data-tailor-slot="home-hero"] a')
    goal_publish(key="elsewhere", name="Never reached", kind="page", match="/checkout/thanks*")
    goal_publish(key="order", name="Order", kind="event", match="", value=1, site_value=True)
    # A selector no browser accepts (written around the admin's check): the tracker must carry on past it.
    Goal.objects.create(key="broken", name="Broken", kind="click", match="a, #1abc", live=True)

    context = browser.new_context(viewport={"width": 1200, "height": 700})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(live_server.url + "/")
    hero = page.locator('[data-tailor-slot="home-hero"]')
    expect(hero).to_be_visible()
    visitor_id = next(c["value"] for c in context.cookies() if c["name"] == "tailor_vid")
    page.wait_for_timeout(800)  # flushed twice: the home page reached no page goal
    assert _conversions(visitor_id) == {}

    hero.get_by_role("link").click()  # a click goal, then the product page: a page goal
    page.wait_for_url("**/product/")
    found = wait_for(lambda: (c := _conversions(visitor_id)) and {"hero-cta", "product-page"} <= set(c) and c)
    page.wait_for_timeout(800)  # nothing more arrives: the page goal is sent once per page view
    assert set(_conversions(visitor_id)) == {"hero-cta", "product-page"}
    page.evaluate("Tailor.goal('order', 49.9); Tailor.goal('no-such-goal')")  # an event goal, from the site's code
    wait_for(lambda: "order" in _conversions(visitor_id))
    context.close()

    assert _conversions(visitor_id) == {"hero-cta": [None], "product-page": [10.0], "order": [49.9]}
    assert found["product-page"] == [10.0]  # the goal's value, set at ingest
    assert errors == []


def test_an_editor_defines_a_click_goal_in_the_admin_and_a_visitor_reaches_it(browser, live_server, seeded, settings):
    from tests.browser.test_admin_editor import publish

    settings.TAILOR = {**settings.TAILOR, "TRACKER_OPTIONS": {"flushInterval": 300}}
    editor = browser.new_context(viewport={"width": 1400, "height": 1000})
    editor.set_default_timeout(10_000)
    admin = editor.new_page()
    admin.goto(live_server.url + "/admin/login/")
    admin.get_by_label("Username").fill(seeded.username)
    admin.get_by_label("Password").fill(seeded.password)
    admin.get_by_role("button", name="Sign in").click()
    admin.get_by_role("link", name="Goals").click()
    admin.get_by_role("link", name=re.compile("Add goal")).first.click()
    admin.locator("#id_name").fill("Hero call to action")
    admin.locator("#id_key").fill("hero-cta")
    admin.locator("#id_kind").select_option("click")
    admin.locator("#id_match").fill('[data-tailor-slot="home-hero"] a[href')  # an editor's slip
    publish(admin)
    expect(admin.locator("#panel-match-section")).to_contain_text("Expected ] at the end.")  # the field, the reason
    admin.locator("#id_match").fill('[data-tailor-slot="home-hero"] a')
    publish(admin)
    expect(admin.get_by_text("Hero call to action").first).to_be_visible()
    editor.close()

    visitor = browser.new_context(viewport={"width": 1200, "height": 700})
    page = visitor.new_page()
    with page.expect_response("**/api/v1/goals/"):  # the first page of a visit: its goals must have arrived
        page.goto(live_server.url + "/")
    visitor_id = next(c["value"] for c in visitor.cookies() if c["name"] == "tailor_vid")
    page.locator('[data-tailor-slot="home-hero"]').get_by_role("link").click()
    page.wait_for_url("**/product/")
    assert wait_for(lambda: _conversions(visitor_id)) == {"hero-cta": [None]}
    visitor.close()


def test_the_next_page_uses_the_tabs_copy_of_the_goals_until_its_own_arrives(browser, live_server, seeded, settings):
    from tracking.services import goal_publish

    settings.TAILOR = {**settings.TAILOR, "TRACKER_OPTIONS": {"flushInterval": 300}}
    goal_publish(key="hero-cta", name="Hero call to action", kind="click", match='[data-tailor-slot="home-hero"] a')
    context = browser.new_context(viewport={"width": 1200, "height": 700})
    page = context.new_page()
    with page.expect_response("**/api/v1/goals/"):
        page.goto(live_server.url + "/")
    visitor_id = next(c["value"] for c in context.cookies() if c["name"] == "tailor_vid")
    page.route("**/api/v1/goals/", lambda route: route.abort())  # from now on the definitions never arrive
    page.reload()
    page.locator('[data-tailor-slot="home-hero"]').get_by_role("link").click()
    page.wait_for_url("**/product/")
    assert wait_for(lambda: _conversions(visitor_id)) == {"hero-cta": [None]}
    context.close()


def test_with_required_consent_goals_wait_for_the_visitors_yes(browser, live_server, seeded, settings):
    from tracking.services import goal_publish

    settings.TAILOR = {**settings.TAILOR, "CONSENT_MODE": "required", "TRACKER_OPTIONS": {"flushInterval": 300}}
    goal_publish(key="product-page", name="Product page", kind="page", match="/product/", value=10)

    context = browser.new_context()
    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.goto(live_server.url + "/product/")
    page.wait_for_timeout(800)
    assert not [url for url in asked if "/api/v1/goals/" in url or "/api/v1/events/" in url]

    page.get_by_role("button", name="Yes, tailor it").click()  # on the same page: its goal counts now
    visitor_id = wait_for(lambda: next((c["value"] for c in context.cookies() if c["name"] == "tailor_vid"), None))
    assert wait_for(lambda: _conversions(visitor_id)) == {"product-page": [10.0]}
    context.close()


def _selectors(count: int, seed: int = 10) -> list[str]:
    """Near-valid selectors from the grammar's parts, a third with a stray character put in: its edges."""
    rnd = random.Random(seed)
    letters = string.ascii_letters + "_"

    def ident() -> str:
        return (
            rnd.choice(["", "", "-"])
            + rnd.choice(letters)
            + "".join(rnd.choice(letters + string.digits + "-") for _ in range(rnd.randint(0, 5)))
        )

    def value() -> str:
        if rnd.random() < 0.5:
            return ident()
        quote = rnd.choice("\"'")
        return quote + "".join(rnd.choice("aZ é-_/ğ<>" + ("'" if quote == '"' else '"')) for _ in range(4)) + quote

    def part() -> str:
        kind = rnd.randrange(5)
        if kind == 0:
            return "#" + ident()
        if kind == 1:
            return "." + ident()
        if kind == 2:
            return f"[{ident()}]"
        if kind == 3:
            return f"[{ident()}{rnd.choice(['=', '~=', '|=', '^=', '$=', '*='])}{value()}]"
        return ":" + rnd.choice(["first-child", "last-of-type", "Only-Child", "empty", "checked", "hover", "not(a)"])

    def compound() -> str:
        head = rnd.choice(["", "*", ident()])
        return head + "".join(part() for _ in range(rnd.randint(0 if head else 1, 3)))

    def complex_() -> str:
        text = compound()
        for _ in range(rnd.randint(0, 2)):
            text += rnd.choice([" ", ">", " > ", "+", " ~ ", "\t"]) + compound()
        return text

    junk = ["\\", "(", ")", "[", "]", '"', "'", "|", ",", ":", "::", "1", "-", "--", "é", "\n", "#", "!"]
    made = []
    for _ in range(count):
        text = ", ".join(complex_() for _ in range(rnd.randint(1, 3)))
        if rnd.random() < 0.35:
            at = rnd.randint(0, len(text))
            text = text[:at] + rnd.choice(junk) + text[at:]
        made.append(text)
    return made


def test_every_selector_the_admin_accepts_is_valid_in_chromium(browser):
    """Thousands of generated selectors: each one the check accepts, Chromium's querySelector accepts too."""
    candidates = _selectors(5000)
    accepted = [c for c in candidates if css_selector_problem(c) is None]
    assert len(accepted) > 2000  # the generator reaches well into the grammar
    assert len(candidates) - len(accepted) > 1000  # and past its edges
    page = browser.new_page()
    page.set_content("<main><a class='y' id='x' href='/'>x</a></main>")
    thrown = page.evaluate(
        """selectors => selectors.filter(s => {
            try { document.querySelector(s); document.body.matches(s); return false; } catch { return true; }
        })""",
        accepted,
    )
    page.close()
    assert thrown == []
