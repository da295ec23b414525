"""An editor in Chromium opens a slot's results from the Slots listing, reads the chart and the verdict, downloads the CSV.

The rollup is tested elsewhere: the figures here are ``VariantDay`` rows written directly
(the demo's split-tested cta-banner, "Book a demo" clearly ahead of "Free trial" over 14 days).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories.results import variant_days_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).parent / "artifacts"
SLOTS_URL = "/admin/snippets/content/slot/"


def test_an_editor_reads_a_slots_results_and_downloads_the_csv(admin_page, live_server):
    variant_days_create("cta-banner", {"banner-trial": (500, 25), "banner-demo": (500, 45)}, days=14)
    page = admin_page
    page.goto(live_server.url + SLOTS_URL)
    row = page.get_by_role("row").filter(has_text="Call-to-action banner")
    expect(row).to_contain_text("7,000")  # the listing: 7 days x 2 variants x 500 visitors
    row.get_by_role("link", name="Results").click()

    expect(page).to_have_url(re.compile(r"/admin/tailor/results/cta-banner/$"))
    expect(page.get_by_role("heading", name="Verdict")).to_be_visible()
    verdict = page.locator("[data-verdict]")
    expect(verdict).to_contain_text("Book a demo is ahead")
    expect(verdict).to_contain_text("chance to beat Free trial")
    expect(page.locator("[data-minimum-sample]")).to_contain_text("The minimum sample")
    chart = page.get_by_role("img", name=re.compile("over time, with 95 % intervals"))
    expect(chart).to_be_visible()
    expect(chart.locator("polyline")).to_have_count(2)
    expect(page.get_by_role("img", name=re.compile("Allocation"))).to_be_visible()
    table = page.locator("[data-results-table]")
    expect(table.get_by_role("row")).to_have_count(3)

    page.get_by_label("Window", exact=True).select_option("7")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"days=7"))
    expect(table).to_contain_text("3,500")

    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile("Download CSV")).first.click()
    download = download_info.value
    assert re.fullmatch(r"tailor-results-cta-banner-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv", download.suggested_filename)
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    assert len(rows) == 7 * 2
    assert {row["variant_name"] for row in rows} == {"Free trial", "Book a demo"}
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "results-dashboard.png"), full_page=True)
    page.locator("#tailor-results-time-section").screenshot(path=str(ARTIFACTS / "results-dashboard-charts.png"))
