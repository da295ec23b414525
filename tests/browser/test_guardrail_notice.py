"""An editor in Chromium sees that the guardrail paused a harmful variant: on the slot's edit screen and its Results.

The demo's split-tested cta-banner: "Book a demo" at half the click rate of "Free trial" (the
control) in today's rollup; the guardrail job runs as beat would run it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.factories.results import variant_days_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).parent / "artifacts"
SLOTS_URL = "/admin/snippets/content/slot/"


def test_an_editor_sees_the_guardrail_pause_on_the_slot_and_its_results(admin_page, live_server):
    from content.models import Slot
    from personalization.guardrails.checks import guardrails_check

    variant_days_create("cta-banner", {"banner-trial": (4000, 200), "banner-demo": (4000, 100)}, days=1)
    assert [f.action for f in guardrails_check().findings] == ["pause"]
    slot = Slot.objects.get(key="cta-banner")

    page = admin_page
    page.goto(f"{live_server.url}{SLOTS_URL}edit/{slot.pk}/")
    notice = page.locator("[data-slot-notices] .help-critical")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Guardrail: pause a harmful variant")
    expect(notice).to_contain_text("Click rate of “Book a demo” (banner-demo) is worse: 2.50% against 5.00%")
    expect(notice).to_contain_text("To undo, un-pause the variant and publish.")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "guardrail-slot-notice.png"))

    page.get_by_role("link", name="Results").first.click()
    expect(page).to_have_url(re.compile(r"/admin/tailor/results/cta-banner/$"))
    expect(page.locator("[data-guardrail-notices] .help-critical")).to_contain_text("paused by guardrail")
    page.screenshot(path=str(ARTIFACTS / "guardrail-results-notice.png"))
