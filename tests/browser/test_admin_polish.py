"""The slot editor and the Models screen at 1280 × 800, as an editor meets them in Chromium.

Nothing may be cut off at the right edge; the slot editor shows the settings of the chosen strategy
only, switching as the strategy changes; the default variant and the rules' variants are choosers of
the form's variants; the Models screen asks before it activates a version.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.test_admin_editor import publish, slot_edit_url, success_message

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).parent / "artifacts"
VIEWPORT = {"width": 1280, "height": 800}
HERO_VARIANTS = ["hero-default", "hero-mobile", "hero-newsletter", "hero-welcome-back"]

# Every visible control, label and button whose right edge passes the viewport's (the page would have
# to scroll sideways, or clips it). Returns "tag#id/name: right edge" strings.
CUT_OFF_JS = """
() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll('main input, main select, main textarea, main button, main a.button, main label, main th, main td')) {
    if (el.type === 'hidden') continue;
    // A closed drawer (Wagtail's side panel) waits entirely beyond the edge on purpose.
    const drawer = el.closest('.form-side');
    if (drawer && drawer.getBoundingClientRect().left >= width) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (box.right > width + 0.5) out.push(`${el.tagName.toLowerCase()}#${el.id || el.name || el.textContent.trim().slice(0, 30)}.${el.className} [${el.getAttribute('aria-label') || ''}] in ${el.parentElement.className}: ${Math.round(box.right)} > ${width}`);
  }
  return out;
}
"""


def cut_off(page) -> str:
    return "\n".join(page.evaluate(CUT_OFF_JS))


def field(page, name: str):
    """The panel wrapper of a top-level field (what the strategy switch hides or shows)."""
    return page.locator(f'[data-field-wrapper]:has([name="{name}"])').first


def expand_collapsed_panels(page) -> None:
    for toggle in page.locator('button.w-panel__toggle[aria-expanded="false"]').all():
        if toggle.is_visible():
            toggle.click()


@pytest.fixture
def editor(admin_page):
    admin_page.set_viewport_size(VIEWPORT)
    return admin_page


def test_the_slot_editor_shows_the_chosen_strategys_settings_and_fits_1280(editor, live_server):
    page = editor
    page.goto(slot_edit_url(live_server, "home-hero"))  # seeded on the rules strategy
    expand_collapsed_panels(page)
    strategy = page.locator('select[name="strategy"]')
    expect(strategy).to_have_value("rules")
    expect(page.locator("#panel-child-how_a_variant_is_chosen-child-rules-wrapper")).to_be_visible()
    for hidden in ("exploration", "temperature", "exploration_rate", "igw_gamma", "reward", "retrain_every"):
        expect(field(page, hidden)).to_be_hidden()
    expect(page.locator('[name="variants-0-weight"]')).to_be_hidden()
    # What every strategy uses stays.
    for shown in ("trigger", "holdout_share", "guardrail_action", "cap_per_day"):
        expect(field(page, shown)).to_be_visible()
    assert cut_off(page) == ""

    strategy.select_option("model")
    expect(page.locator("#panel-child-how_a_variant_is_chosen-child-rules-wrapper")).to_be_hidden()
    expand_collapsed_panels(page)  # the learning panel appears (collapsed) for a model slot
    for shown in ("exploration", "exploration_rate", "reward", "retrain_every"):
        expect(field(page, shown)).to_be_visible()
    expect(field(page, "bandit_floor")).to_be_hidden()
    page.locator('select[name="exploration"]').select_option("softmax")
    expect(field(page, "temperature")).to_be_visible()
    expect(field(page, "igw_gamma")).to_be_hidden()
    page.locator('select[name="exploration"]').select_option("igw")
    expect(field(page, "igw_gamma")).to_be_visible()
    expect(field(page, "temperature")).to_be_hidden()
    page.locator('select[name="exploration"]').select_option("softmax")
    page.locator('select[name="reward"]').select_option("weighted")
    expect(field(page, "click_weight")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "slot-edit-model-1280.png"), full_page=True)
    temperature = page.locator('[name="temperature"]').bounding_box()
    assert temperature is not None
    assert temperature["x"] + temperature["width"] <= VIEWPORT["width"], temperature
    assert cut_off(page) == ""

    strategy.select_option("split")
    expect(page.locator('[name="variants-0-weight"]')).to_be_visible()
    expect(field(page, "exploration")).to_be_hidden()
    expect(page.locator("#panel-child-how_a_variant_is_chosen-child-rules-wrapper")).to_be_hidden()

    strategy.select_option("bandit")
    expect(page.locator("#panel-child-how_a_variant_is_chosen-child-rules-wrapper")).to_be_visible()
    for shown in ("bandit_floor", "bandit_discount", "bandit_top_two", "reward"):
        expect(field(page, shown)).to_be_visible()
    expect(field(page, "retrain_every")).to_be_hidden()
    assert cut_off(page) == ""

    strategy.select_option("fixed")
    expect(field(page, "holdout_share")).to_be_hidden()
    expect(page.locator("#panel-learning_while_serving_model_retraining_and_bandit-section")).to_be_hidden()
    expect(field(page, "default_variant")).to_be_visible()
    assert cut_off(page) == ""


def test_the_default_and_rule_variants_are_chosen_among_the_forms_variants(editor, live_server):
    from content.models import Slot

    page = editor
    page.goto(slot_edit_url(live_server, "home-hero"))
    default = page.locator('select[data-tailor-variant-chooser="default_variant"]')
    expect(default).to_be_visible()
    expect(default).to_have_value("hero-default")
    keys = default.locator("option").evaluate_all("options => options.map(o => o.value)")
    assert keys == ["", *HERO_VARIANTS]
    expect(default.locator("option").first).to_have_text("The first live variant")

    rule = page.locator('select[data-tailor-variant-chooser^="rules-"]').first
    expect(rule).to_be_visible()
    assert rule.locator("option").evaluate_all("options => options.map(o => o.value)") == ["", *HERO_VARIANTS]
    assert rule.input_value() in HERO_VARIANTS

    # Renaming a variant renames it in every chooser, and a chooser on it follows.
    page.locator('[name="variants-0-key"]').fill("hero-plain")
    expect(default).to_have_value("hero-plain")
    expect(default.locator('option[value="hero-plain"]')).to_have_count(1)
    expect(default.locator('option[value="hero-default"]')).to_have_count(0)
    # A variant added in the form is offered at once.
    page.get_by_role("button", name="Add Variant").click()
    page.locator('[name="variants-4-name"]').fill("Spring")
    page.locator('[name="variants-4-key"]').fill("hero-spring")
    expect(default.locator('option[value="hero-spring"]')).to_have_text("Spring (hero-spring)")
    expect(rule.locator('option[value="hero-spring"]')).to_have_count(1)
    # Remove it again (it has no micro-template), choose another default and publish.
    page.locator("#inline_child_variants-4 button[title='Delete']").click()
    expect(default.locator('option[value="hero-spring"]')).to_have_count(0)
    default.select_option("hero-mobile")
    publish(page)
    expect(success_message(page)).to_contain_text("Slot 'Home hero' updated and published.")
    slot = Slot.objects.get(key="home-hero")
    assert slot.default_variant == "hero-mobile"
    assert sorted(slot.variants.values_list("key", flat=True)) == sorted(["hero-plain", *HERO_VARIANTS[1:]])


def test_models_activate_fits_1280_and_asks_for_confirmation(editor, live_server):
    from content.models import Slot
    from personalization.models import ModelVersion

    page = editor
    slot = Slot.objects.get(key="home-hero")
    slot.strategy = "model"
    slot.save_revision().publish()
    estimates = {
        name: {"dr": {"value": value, "ci95": [value - 0.01, value + 0.01], "n": 900}}
        for name, value in (("candidate", 0.061), ("uniform", 0.033), ("serving", 0.05))
    }
    note = (
        "Doubly robust estimate 0.0610 vs serving 0.0500; difference 95% CI [0.0020, 0.0200]: "
        "estimated better than the serving model, promoted."
    )
    active = ModelVersion.objects.create(
        slot_key="home-hero", status="active", model_text="", estimates=estimates, note=note, metrics={"rows": 2400}
    )
    candidate = ModelVersion.objects.create(
        slot_key="home-hero", model_text="", estimates=estimates, note=note, metrics={"rows": 2600, "auc": 0.71}
    )

    page.goto(live_server.url + "/admin/tailor/models/")
    activate = page.get_by_role("link", name="Activate…")
    expect(activate).to_be_visible()
    box = activate.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= VIEWPORT["width"], box
    assert cut_off(page) == ""
    # The Why reads as a sentence, not one word per line: its box is wider than it is tall.
    why = page.locator(f'[data-why="{candidate.pk}"] td')
    why_box = why.bounding_box()
    assert why_box is not None
    assert why_box["width"] > 600, why_box
    assert why_box["height"] < 80, why_box
    expect(page.locator('[data-serving="home-hero"]')).to_contain_text(f"Model #{active.pk} serves this slot")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "models-1280.png"), full_page=True)

    activate.click()
    expect(page.get_by_role("heading", name=re.compile(rf"Activate model #{candidate.pk}"))).to_be_visible()
    expect(page.locator("[data-activate-confirmation]")).to_contain_text(f"model #{active.pk} is retired")
    candidate.refresh_from_db()
    assert candidate.status == "candidate"  # the click only asked
    page.get_by_role("button", name=f"Yes, activate model #{candidate.pk}").click()
    expect(success_message(page)).to_contain_text(f"Model #{candidate.pk} now serves slot “home-hero”.")
    candidate.refresh_from_db()
    assert candidate.status == "active"
