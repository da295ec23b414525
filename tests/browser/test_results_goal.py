"""In Chromium: an editor defines a goal, a visitor reaches it, and the slot's results count the conversion; and an
editor reads one experiment's results on the dashboard.

The rollup runs in the test process (as the hourly Celery job would) on what the live server stored.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories.results import variant_days_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).parent / "artifacts"
TIMEOUT_MS = 10_000
# A desktop Chrome's user agent: headless Chromium's own names itself as such, and bots never count in results.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


def wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.fixture
def editor(browser, live_server, seeded, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(live_server.url + "/admin/login/")
    page.get_by_label("Username").fill(seeded.username)
    page.get_by_label("Password").fill(seeded.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"{request.node.name}-failure.html").write_text(page.content())
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failure.png"), full_page=True)
    context.close()


def test_a_goal_defined_in_the_admin_is_counted_in_the_slots_results(browser, live_server, editor, settings):
    from personalization.results.rollup import results_rollup
    from tests.browser.test_admin_editor import publish
    from tracking.models import Event, Goal

    settings.TAILOR = {**settings.TAILOR, "TRACKER_OPTIONS": {"flushInterval": 300}}
    Goal.objects.all().delete()  # the demo's own goal: only the editor's counts here
    editor.get_by_role("link", name="Goals").click()
    editor.get_by_role("link", name=re.compile("Add goal")).first.click()
    editor.locator("#id_name").fill("Hero call to action")
    editor.locator("#id_key").fill("hero-cta")
    editor.locator("#id_kind").select_option("click")
    editor.locator("#id_match").fill('[data-tailor-slot="home-hero"] a')
    publish(editor)
    expect(editor.get_by_text("Hero call to action").first).to_be_visible()

    visitor = browser.new_context(viewport={"width": 1200, "height": 700}, user_agent=USER_AGENT)
    page = visitor.new_page()
    with page.expect_response("**/api/v1/goals/"):
        page.goto(live_server.url + "/")
    visitor_id = next(c["value"] for c in visitor.cookies() if c["name"] == "tailor_vid")
    hero = page.locator('[data-tailor-slot="home-hero"]')
    expect(hero).to_be_visible()
    wait_for(lambda: Event.objects.filter(visitor_id=visitor_id, type="impression").exists())
    hero.get_by_role("link").click()
    page.wait_for_url("**/product/")
    wait_for(lambda: Event.objects.filter(visitor_id=visitor_id, type="conversion", props__goal="hero-cta").exists())
    visitor.close()

    results_rollup()

    editor.goto(live_server.url + "/admin/tailor/results/home-hero/")
    editor.get_by_label("Metric", exact=True).select_option("conversion_rate")
    editor.get_by_role("button", name="Show").click()
    expect(editor).to_have_url(re.compile(r"metric=conversion_rate"))
    table = editor.locator("[data-results-table]")
    served = table.get_by_role("row").filter(has_text="100.00%")
    expect(served).to_have_count(1)  # the one visitor's variant: 1 visitor, converted
    expect(served.get_by_role("cell").first).to_have_text("1")
    ARTIFACTS.mkdir(exist_ok=True)
    editor.screenshot(path=str(ARTIFACTS / "results-goal-conversion.png"), full_page=True)


def test_the_dashboard_shows_an_experiments_results_when_one_is_chosen(live_server, editor):
    from django.utils import timezone

    from personalization.models import Experiment
    from tests.factories.experiments import experiment_create

    variant_days_create("cta-banner", {"banner-trial": (500, 45), "banner-demo": (500, 25)}, days=14)
    variant_days_create(
        "cta-banner",
        {"banner-trial": (300, 15), "banner-demo": (300, 30)},
        days=10,
        group="experiment:demo-first",
    )
    experiment_create(
        "cta-banner",
        "demo-first",
        variants=("banner-trial", "banner-demo"),
        starts_at=timezone.now() - timedelta(days=9, hours=1),
        minimum_sample=1000,
        guardrail_metrics=["conversion_rate"],
    )
    Experiment.objects.filter(key="demo-first").update(name="Demo first <b>?</b>")

    editor.goto(live_server.url + "/admin/tailor/results/cta-banner/")
    expect(editor.locator("[data-verdict]")).to_contain_text("Book a demo is behind")  # all traffic
    editor.get_by_label("Traffic").select_option("demo-first")
    editor.get_by_role("button", name="Show").click()

    expect(editor).to_have_url(re.compile(r"experiment=demo-first"))
    panel = editor.locator("#tailor-results-experiment-section")
    expect(panel).to_contain_text("Demo first <b>?</b>")  # the name as text, not markup
    expect(panel).to_contain_text("Running until")
    expect(panel.locator("[data-guardrails]").get_by_role("row")).to_have_count(2)
    expect(editor.locator("[data-verdict]")).to_contain_text("Book a demo is ahead")  # the experiment's arms alone
    expect(editor.locator("[data-results-table]")).to_contain_text("3,000")  # 10 days x 300
    expect(
        editor.get_by_role("img", name=re.compile("over time, with 95 % intervals")).locator("polyline")
    ).to_have_count(2)
    ARTIFACTS.mkdir(exist_ok=True)
    editor.screenshot(path=str(ARTIFACTS / "results-experiment.png"), full_page=True)
