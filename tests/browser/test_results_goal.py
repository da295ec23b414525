"""In Chromium: an editor defines a goal, a visitor reaches it, and the slot's results count the conversion; and an
editor reads one experiment's results on the dashboard.

The rollup runs in the test process (as the hourly Celery job would) on what the live server stored.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.waiting import wait_for
from tests.factories.results import variant_days_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).parent / "artifacts"
# A desktop Chrome's user agent: headless Chromium's own names itself as such, and bots never count in results.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"


def test_a_goal_defined_in_the_admin_is_counted_in_the_slots_results(browser, live_server, admin_page, settings):
    from personalization.results.rollup import results_rollup
    from tests.browser.test_admin_editor import publish
    from tracking.models import Event, Goal

    settings.TAILOR = {**settings.TAILOR, "TRACKER_OPTIONS": {"flushInterval": 300}}
    Goal.objects.all().delete()  # the demo's own goal: only the editor's counts here
    admin_page.get_by_role("link", name="Goals").click()
    admin_page.get_by_role("link", name=re.compile("Add goal")).first.click()
    admin_page.locator("#id_name").fill("Hero call to action")
    admin_page.locator("#id_key").fill("hero-cta")
    admin_page.locator("#id_kind").select_option("click")
    admin_page.locator("#id_match").fill('[data-tailor-slot="home-hero"] a')
    publish(admin_page)
    expect(admin_page.get_by_text("Hero call to action").first).to_be_visible()

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

    admin_page.goto(live_server.url + "/admin/tailor/results/home-hero/")
    admin_page.get_by_label("Metric", exact=True).select_option("conversion_rate")
    admin_page.get_by_role("button", name="Show").click()
    expect(admin_page).to_have_url(re.compile(r"metric=conversion_rate"))
    table = admin_page.locator("[data-results-table]")
    served = table.get_by_role("row").filter(has_text="100.00%")
    expect(served).to_have_count(1)  # the one visitor's variant: 1 visitor, converted
    expect(served.get_by_role("cell").first).to_have_text("1")
    ARTIFACTS.mkdir(exist_ok=True)
    admin_page.screenshot(path=str(ARTIFACTS / "results-goal-conversion.png"), full_page=True)


def test_the_dashboard_shows_an_experiments_results_when_one_is_chosen(live_server, admin_page):
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

    admin_page.goto(live_server.url + "/admin/tailor/results/cta-banner/")
    expect(admin_page.locator("[data-verdict]")).to_contain_text("Book a demo is behind")  # all traffic
    admin_page.get_by_label("Traffic").select_option("demo-first")
    admin_page.get_by_role("button", name="Show").click()

    expect(admin_page).to_have_url(re.compile(r"experiment=demo-first"))
    panel = admin_page.locator("#tailor-results-experiment-section")
    expect(panel).to_contain_text("Demo first <b>?</b>")  # the name as text, not markup
    expect(panel).to_contain_text("Running until")
    expect(panel.locator("[data-guardrails]").get_by_role("row")).to_have_count(2)
    expect(admin_page.locator("[data-verdict]")).to_contain_text("Book a demo is ahead")  # the experiment's arms alone
    expect(admin_page.locator("[data-results-table]")).to_contain_text("3,000")  # 10 days x 300
    expect(
        admin_page.get_by_role("img", name=re.compile("over time, with 95 % intervals")).locator("polyline")
    ).to_have_count(2)
    ARTIFACTS.mkdir(exist_ok=True)
    admin_page.screenshot(path=str(ARTIFACTS / "results-experiment.png"), full_page=True)
