"""Rendering is safe: placeholders are substituted from an allow-list and escaped; editor text never runs."""

from __future__ import annotations

import pytest

from content.placeholders import substitute
from content.rendering import variant_render
from tests.factories.slots import hero_params, page_with_slots, slot_create


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("Hi {visitor.first_name|there}", {"visitor.first_name": "Ada"}, "Hi Ada"),
        ("Hi {visitor.first_name|there}", {}, "Hi there"),
        ("Hi {visitor.first_name|there}", {"visitor.first_name": ""}, "Hi there"),
        ("Deals in {context.city|your area}", {"context.city": "Leiden"}, "Deals in Leiden"),
        ("No fallback {context.city}!", {}, "No fallback !"),
        ("Not allowed {visitor.password|x}", {"visitor.password": "secret"}, "Not allowed {visitor.password|x}"),
        ("Plain {braces} stay", {}, "Plain {braces} stay"),
        ("{{ request.user }} {% debug %}", {}, "{{ request.user }} {% debug %}"),
    ],
)
def test_substitute(text, values, expected):
    assert substitute(text, values) == expected


def test_substitute_escapes_values_in_html_and_truncates():
    out = substitute("<p>{context.city|x}</p>", {"context.city": "<script>alert(1)</script>"}, html=True)
    assert out == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert len(substitute("{context.city|}", {"context.city": "x" * 500})) == 100


def test_script_in_parameters_and_values_is_escaped():
    params = hero_params("<script>alert('headline')</script> {context.city|}")[0]["value"]
    html = variant_render(
        slot_key="s",
        variant_key="v",
        template_key="hero",
        params=params,
        decision_id="d1",
        values={"context.city": "<img src=x onerror=alert(2)>"},
    )
    assert "<script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert 'data-tailor-decision="d1"' in html


def test_editor_text_is_not_a_django_template():
    params = hero_params("{{ settings.SECRET_KEY }}{% now 'Y' %}")[0]["value"]
    html = variant_render(slot_key="s", variant_key="v", template_key="hero", params=params, decision_id="d")
    assert "{{ settings.SECRET_KEY }}{% now &#x27;Y&#x27; %}" in html


@pytest.mark.django_db
def test_script_in_a_published_headline_is_escaped_on_the_page(client):
    from personalization.demo import slot_publish

    slot_publish(
        {
            "key": "x",
            "name": "X",
            "strategy": "fixed",
            "variants": [("a", "A", 1, hero_params("<script>alert(1)</script>"))],
        },
        {},
    )
    page = page_with_slots("x")
    html = client.get(page.url).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_link_validation_rejects_javascript_urls():
    from django.core.exceptions import ValidationError

    from content.blocks import validate_link

    for good in ("/offers/", "#top", "https://example.com/x", "mailto:a@example.com"):
        validate_link(good)
    for bad in ("javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,hi", "//evil.example"):
        with pytest.raises(ValidationError):
            validate_link(bad)


@pytest.mark.django_db
def test_slot_edit_screen_opens(admin_client):
    from django.urls import reverse

    from content.models import Slot

    slot_create("dup", variants=[("a", 1)])
    slot = Slot.objects.get(key="dup")
    url = reverse("wagtailsnippets_content_slot:edit", args=[slot.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
