"""An editor in Chromium (1280 × 800) pastes a decision id into the decision explorer and reads why.

A visitor on a phone is served the model slot's hero (a real LightGBM model that learned phone visitors
click "b"); the editor opens Decisions from the admin menu, pastes that decision's id, and sees the variant,
the reason in words and the feature that pushed it, without the table running off the screen.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.waiting import read_retrying, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).parent / "artifacts"


def test_an_editor_pastes_a_decision_id_and_sees_the_reason_and_the_top_feature(admin_page, live_server):
    from personalization.serving.explain import decisions_lookup
    from tests.factories.models import model_slot_trained
    from tracking.models import DecisionLog

    model_slot_trained()
    page = admin_page
    page.set_viewport_size({"width": 1280, "height": 800})
    answer = page.request.post(
        live_server.url + "/api/v1/decisions/",
        data={
            "slots": ["explained-hero"],
            "context": {"device": "mobile", "hour": 20},
            "visitor_id": str(uuid.uuid4()),
        },
    )
    assert answer.ok, answer.text()
    decision_id = answer.json()["decisions"][0]["decision_id"]
    wait_for(lambda: read_retrying(lambda: DecisionLog.objects.filter(id=uuid.UUID(decision_id)).exists()))
    expected = decisions_lookup(uuid.UUID(decision_id)).decisions[0]
    top = expected.explanation["features"][0]

    page.goto(live_server.url + "/admin/")
    page.get_by_role("link", name="Decisions").click()
    expect(page).to_have_url(re.compile(r"/admin/tailor/decisions/$"))
    page.get_by_label("Visitor or decision id").fill(decision_id)
    page.get_by_role("button", name="Explain").click()

    row = page.locator(f'[data-decision="{decision_id}"]')
    expect(row).to_be_visible()
    expect(row.locator("[data-variant]")).to_have_text(expected.variant_key)
    expect(row.locator("[data-policy]")).to_contain_text("model")
    expect(row.locator("[data-why-summary]")).to_have_text(expected.explanation["summary"])
    first = row.locator("[data-why-features] li").first
    expect(first).to_contain_text(f"{top['label']}: {top['value']}")
    expect(first).to_contain_text("pushed it up" if top["direction"] == "up" else "held it back")
    # Nothing runs off a 1280 px screen: the Why column ends inside the viewport.
    box = row.locator("[data-why]").bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 1280

    # A typo is a form error on the same page, not a server error.
    page.get_by_label("Visitor or decision id").fill("not an id")
    page.get_by_role("button", name="Explain").click()
    expect(page.get_by_text("Not an id: paste a visitor id or a decision id")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.goto(live_server.url + f"/admin/tailor/decisions/?q={decision_id}")
    page.screenshot(path=str(ARTIFACTS / "decision-explorer.png"), full_page=True)
