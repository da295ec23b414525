"""An editor previews a page as a segment, on a device, from Wagtail's preview panel, at 1280 × 800."""

from __future__ import annotations

import os

import pytest
from playwright.sync_api import expect

from tests.browser.waiting import read_retrying

pytestmark = pytest.mark.browser


def hero_in_preview(page):
    return page.frame_locator("#w-preview-iframe").locator('[data-tailor-slot="home-hero"]')


def test_editor_previews_the_home_page_as_a_segment_and_a_device_and_nothing_is_logged(
    admin_page, live_server, settings
):
    # The editor's own visits would count with this off: no row below can then come from staff exclusion.
    settings.TAILOR = {**settings.TAILOR, "EXCLUDE_STAFF": False}
    from demo.models import HomePage
    from tracking.models import DecisionLog

    home = read_retrying(lambda: HomePage.objects.get())
    page = admin_page
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/admin/pages/{home.pk}/edit/")
    page.locator('[data-side-panel-toggle="preview"]').click()

    # Wagtail opens the preview at its mobile size: the preview is a mobile visit, not the editor's desktop.
    expect(page.locator('input[name="preview-size"][value="mobile"]')).to_be_checked()
    expect(hero_in_preview(page)).to_have_attribute("data-tailor-variant", "hero-mobile")
    control = page.locator("form[data-tailor-preview-as]")
    expect(control).to_be_visible()
    if os.environ.get("TAILOR_PREVIEW_SCREENSHOT"):
        page.screenshot(path=os.environ["TAILOR_PREVIEW_SCREENSHOT"])

    control.get_by_label("Preview as").select_option(label="Newsletter traffic")
    expect(hero_in_preview(page)).to_have_attribute("data-tailor-variant", "hero-newsletter")
    expect(hero_in_preview(page)).to_contain_text("Welcome, newsletter reader")

    control.get_by_label("Preview as").select_option(label="A new visitor")
    page.locator("label.w-preview__size-button:has(input[value='desktop'])").click()
    expect(hero_in_preview(page)).to_have_attribute("data-tailor-variant", "hero-default")

    control.get_by_label("Device").select_option("mobile")  # a device the editor picks wins over the size
    expect(hero_in_preview(page)).to_have_attribute("data-tailor-variant", "hero-mobile")

    control.locator("summary").click()
    control.get_by_label("Device").select_option("")
    control.get_by_label("UTM source").fill("newsletter")
    control.get_by_label("UTM source").press("Tab")
    expect(hero_in_preview(page)).to_have_attribute("data-tailor-variant", "hero-newsletter")

    assert read_retrying(lambda: DecisionLog.objects.count()) == 0
