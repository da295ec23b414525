"""In a real Chromium: a visitor's query string cannot choose where a variant's link points."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ATTACK = "javascript:alert(document.domain)"


def test_utm_source_in_a_link_href_does_not_run_script(browser, live_server, seeded):
    from content.services import slot_publish
    from tests.factories.slots import hero_params, page_with_slots

    body = '<p><a href="{context.utm_source|/}">Offers</a> for {context.utm_source|you}</p>'
    slot_publish(
        {"key": "xss", "name": "XSS", "strategy": "fixed", "variants": [("a", "A", 1, hero_params("Hi", body=body))]},
        {},
    )
    page_url = page_with_slots("xss", slug="xss").url
    dialogs: list[str] = []
    context = browser.new_context()
    page = context.new_page()
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{live_server.url}{page_url}?utm_source={ATTACK}")
    link = page.locator('[data-tailor-slot="xss"] .body a')
    href = link.get_attribute("href")
    # The value is still used where it is harmless: as text.
    assert "for javascript:alert(document.domain)" in page.locator('[data-tailor-slot="xss"] .body').inner_text()
    link.click()
    page.wait_for_load_state()
    page.wait_for_timeout(300)
    assert dialogs == []
    assert href == "/"
    assert page.evaluate("location.pathname") == "/"
    context.close()
