"""Drive the Wagtail admin like an editor: create, edit, revert and validate slots in a real Chromium.

Runs against pytest-django's ``live_server`` (a thread of this process), so the
repo's autouse ``CATALOG_CHECK_SECONDS=0`` applies and every publish is served at
once. Data is seeded inside each test with ``demo_seed()`` because
``transaction=True`` flushes the database between tests.

Playwright's sync API keeps an asyncio loop running in the main thread, which
makes Django refuse ORM calls from test code; ``DJANGO_ALLOW_ASYNC_UNSAFE`` is
set for this module only (the ORM calls here are plain, synchronous ones).

Screenshots go to ``tests/browser/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).parent / "artifacts"
SLOTS_URL = "/admin/snippets/content/slot/"
ORIGINAL_HERO = "Hello there, meet Tailor"


# --------------------------------------------------------------------------- fixtures


# --------------------------------------------------------------------------- helpers


def public_html(browser, url: str) -> str:
    """The page as an anonymous visitor sees it: a fresh context, no admin cookie."""
    context = browser.new_context()
    try:
        page = context.new_page()
        response = page.goto(url)
        assert response is not None, f"GET {url}: no response"
        assert response.ok, f"GET {url} -> {response.status}"
        return page.content()
    finally:
        context.close()


def publish(page, label: str = "Publish") -> None:
    """Open the footer's "More actions" menu and press Publish (or "Publish this version" when reverting)."""
    footer = page.get_by_role("navigation", name="Actions (footer)")
    footer.get_by_role("button", name="More actions").click()
    footer.get_by_role("button", name=label, exact=True).click()


def save_draft(page) -> None:
    page.get_by_role("navigation", name="Actions (footer)").get_by_role("button", name="Save draft").click()


def choose_micro_template(page, variant_index: int, label: str) -> None:
    """In variant N's params StreamField press "Insert a block" and pick a micro-template from the menu."""
    root = page.locator(f"#variants-{variant_index}-params-root")
    root.get_by_role("button", name="Insert a block").first.click()
    page.get_by_role("option", name=label, exact=True).click()
    expect(page.locator(f'[name="variants-{variant_index}-params-0-value-headline"]')).to_be_visible()


def fill_variant(page, index: int, *, name: str, key: str, template: str, headline: str, cta: str) -> None:
    page.locator(f'[name="variants-{index}-name"]').fill(name)
    page.locator(f'[name="variants-{index}-key"]').fill(key)
    choose_micro_template(page, index, template)
    page.locator(f'[name="variants-{index}-params-0-value-headline"]').fill(headline)
    page.locator(f'[name="variants-{index}-params-0-value-cta_label"]').fill(cta)
    page.locator(f'[name="variants-{index}-params-0-value-cta_url"]').fill("/product/")


def slot_edit_url(live_server, key: str) -> str:
    from content.models import Slot

    return f"{live_server.url}{SLOTS_URL}edit/{Slot.objects.get(key=key).pk}/"


def success_message(page):
    return page.locator(".messages .success, .messages [class*=success]").first


# --------------------------------------------------------------------------- tests


def test_editor_creates_and_publishes_a_split_slot(admin_page, live_server):
    page = admin_page
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Slots").click()
    expect(page).to_have_url(re.compile(re.escape(SLOTS_URL) + "$"))
    page.get_by_role("link", name="Add slot").click()
    expect(page.get_by_role("heading", name="Slot", exact=True).first).to_be_visible()

    page.locator('[name="name"]').fill("Spring promo")
    page.locator('[name="key"]').fill("spring-promo")
    page.locator('[name="strategy"]').select_option("split")

    fill_variant(
        page,
        0,
        name="Spring banner",
        key="spring-banner",
        template="Call-to-action banner",
        headline="Spring is here",
        cta="Shop spring",
    )
    page.get_by_role("button", name="Add Variant").click()
    expect(page.locator('[name="variants-1-name"]')).to_be_visible()
    fill_variant(
        page,
        1,
        name="Spring hero",
        key="spring-hero",
        template="Hero",
        headline="Fresh for spring",
        cta="See what's new",
    )
    publish(page)

    expect(success_message(page)).to_contain_text("Slot 'Spring promo' created and published.")
    expect(page).to_have_url(re.compile(re.escape(SLOTS_URL) + r"(\?.*)?$"))
    row = page.get_by_role("row").filter(has_text="spring-promo")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Weighted split")
    expect(row).to_contain_text("2 live")
    # The listing has no status column (see the report), so use its "Live" filter.
    page.goto(live_server.url + SLOTS_URL + "?live=true")
    expect(page.get_by_role("row").filter(has_text="spring-promo")).to_have_count(1)
    page.goto(live_server.url + SLOTS_URL + "?live=false")
    expect(page.get_by_role("row").filter(has_text="spring-promo")).to_have_count(0)

    response = page.request.post(
        live_server.url + "/api/v1/decisions/",
        data=json.dumps({"slots": ["spring-promo"]}),
        headers={"Content-Type": "application/json"},
    )
    assert response.ok, response.text()
    (decision,) = response.json()["decisions"]
    assert decision["slot"] == "spring-promo"
    assert decision["variant"]["key"] in {"spring-banner", "spring-hero"}
    assert decision["propensity"] == pytest.approx(0.5)
    expected_template = {"spring-banner": "cta_banner", "spring-hero": "hero"}[decision["variant"]["key"]]
    assert decision["variant"]["template"] == expected_template


def test_draft_is_not_served_publish_is_and_revert_restores(admin_page, browser, live_server):
    page = admin_page
    home = live_server.url + "/"
    new_headline = "Spring hello, {visitor.first_name|there}"
    new_rendered = "Spring hello, there"
    assert ORIGINAL_HERO in public_html(browser, home)

    page.goto(slot_edit_url(live_server, "home-hero"))
    headline = page.locator('[name="variants-0-params-0-value-headline"]')
    expect(headline).to_have_value("Hello {visitor.first_name|there}, meet Tailor")
    expect(page.locator('[name="variants-0-key"]')).to_have_value("hero-default")
    headline.fill(new_headline)
    save_draft(page)
    expect(success_message(page)).to_contain_text("Slot 'Home hero' updated.")
    html = public_html(browser, home)
    assert ORIGINAL_HERO in html
    assert new_rendered not in html

    publish(page)
    expect(success_message(page)).to_contain_text("Slot 'Home hero' updated and published.")
    html = public_html(browser, home)
    assert new_rendered in html
    assert ORIGINAL_HERO not in html

    # History lists the seed publish, the draft, and the edit + publish just made.
    page.goto(slot_edit_url(live_server, "home-hero"))
    page.get_by_role("link", name="History").first.click()
    expect(page.get_by_role("heading", name=re.compile("History"))).to_be_visible()
    rows = page.locator("table.listing tbody tr")
    expect(rows.first).to_contain_text("Published")
    expect(rows.first).to_contain_text("Live version")
    expect(rows.last).to_contain_text("Edited")  # the seed: saved, then published
    assert rows.count() >= 3  # seed, draft, edit + publish (autosave may merge or add "Edited" rows)

    # Revert to the seeded revision the way an editor does: its row's "Review this version".
    rows.last.get_by_role("button", name="Actions").click()
    page.get_by_role("link", name="Review this version").click()  # the menu opens outside the row
    expect(page.get_by_text("You are viewing a previous version of this Slot")).to_be_visible()
    expect(page.locator('[name="variants-0-params-0-value-headline"]')).to_have_value(
        "Hello {visitor.first_name|there}, meet Tailor"
    )
    publish(page, label="Publish this version")
    expect(success_message(page)).to_contain_text("of Slot 'Home hero' has been published.")
    html = public_html(browser, home)
    assert ORIGINAL_HERO in html
    assert new_rendered not in html


def test_unknown_default_variant_is_rejected_and_nothing_is_published(admin_page, browser, live_server):
    from content.models import Slot

    page = admin_page
    before = Slot.objects.get(key="home-hero")
    revisions_before = before.revisions.count()

    page.goto(slot_edit_url(live_server, "home-hero"))
    # The chooser offers only real variants; a key that names none still reaches the server from a stale
    # form or a browser without the editor's script (the typed field is what is posted): it must be refused.
    page.locator('[name="default_variant"]').evaluate("input => { input.value = 'no-such-variant'; }")
    page.locator('[name="variants-0-params-0-value-headline"]').fill("Should never go live")
    publish(page)

    error = page.locator("#panel-child-how_a_variant_is_chosen-child-default_variant-errors")
    expect(error).to_contain_text("No variant has the key “no-such-variant”")
    expect(error).to_contain_text("hero-default")
    expect(page.locator(".messages")).to_contain_text("could not be")
    expect(page.locator('[name="default_variant"]')).to_have_value("no-such-variant")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "slot-edit-validation-error.png"))

    after = Slot.objects.get(key="home-hero")
    assert after.default_variant == "hero-default"
    assert after.live_revision_id == before.live_revision_id
    assert after.revisions.count() == revisions_before
    assert not after.has_unpublished_changes
    html = public_html(browser, live_server.url + "/")
    assert ORIGINAL_HERO in html
    assert "Should never go live" not in html


def test_screenshots_of_slot_editor_and_home_page(admin_page, browser, live_server):
    ARTIFACTS.mkdir(exist_ok=True)
    page = admin_page
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(slot_edit_url(live_server, "home-hero"))
    overview = page.locator("#panel-overview_variants_and_targeting_as_saved-section")
    expect(overview).to_contain_text("Targeting, checked in this order")
    expect(overview.locator("table").first.locator("tbody tr")).to_have_count(4)
    expect(overview.locator("table").nth(1)).to_contain_text("Newsletter traffic")
    expect(overview.locator("table").nth(1)).to_contain_text("everyone else")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(ARTIFACTS / "slot-edit-home-hero.png"))
    overview.scroll_into_view_if_needed()
    overview.screenshot(path=str(ARTIFACTS / "slot-edit-home-hero-overview.png"))
    page.locator("#panel-variants-section").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "slot-edit-home-hero-variants.png"))

    visitor = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        home = visitor.new_page()
        home.goto(live_server.url + "/")
        expect(home.get_by_text(ORIGINAL_HERO)).to_be_visible()
        home.wait_for_load_state("networkidle")
        home.screenshot(path=str(ARTIFACTS / "home-page.png"), full_page=True)
    finally:
        visitor.close()
