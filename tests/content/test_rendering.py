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
        # Text around the field inside the braces comes with the value only: no "Welcome backAnn!".
        ("Welcome back{, visitor.first_name|}!", {"visitor.first_name": "Ann"}, "Welcome back, Ann!"),
        ("Welcome back{, visitor.first_name|}!", {}, "Welcome back!"),
        ("Welcome back{, visitor.first_name|}!", {"visitor.first_name": "  "}, "Welcome back!"),
        ("{visitor.first_name's|Your} basket", {"visitor.first_name": "Ann"}, "Ann's basket"),
        ("{visitor.first_name's|Your} basket", {}, "Your basket"),
        ("Free delivery{ to context.city|}.", {"context.city": "Leiden"}, "Free delivery to Leiden."),
        ("Not allowed {a visitor.password b|x}", {"visitor.password": "s"}, "Not allowed {a visitor.password b|x}"),
    ],
)
def test_substitute(text, values, expected):
    assert substitute(text, values) == expected


def test_substitute_escapes_values_in_html_and_truncates():
    from content.richtext import richtext_render

    out = richtext_render("<p>{context.city|x}</p>", {"context.city": "<script>alert(1)</script>"})
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
    from content.services import slot_publish

    slot_publish(
        {
            "key": "x",
            "name": "X",
            "strategy": "fixed",
            "variants": [("a", "A", 1, hero_params("<script>alert(1)</script>"))],
        },
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
    for bad in (
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,hi",
        "//evil.example",
        "/\\evil.example",
        "offers/",
    ):
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


ATTACK = "javascript:alert(document.domain)"


def anchors(html: str) -> list[dict[str, str | None]]:
    """The attributes of every ``<a>`` in ``html``, as a browser's parser reads them."""
    from bs4 import BeautifulSoup

    return [dict(a.attrs) for a in BeautifulSoup(html, "html.parser").find_all("a")]


def render_body(body: str, values: dict[str, object] | None = None, **extra) -> str:
    params = hero_params("Hi", body=body, **extra)[0]["value"]
    return variant_render(
        slot_key="s", variant_key="v", template_key="hero", params=params, decision_id="d", values=values or {}
    )


def test_placeholder_in_a_link_href_takes_its_fallback_not_the_visitor_value():
    html = render_body(
        '<p><a href="{context.utm_source|/offers/}" title="{context.city|x}">Hi {context.utm_source|}</a></p>',
        {"context.utm_source": ATTACK, "context.city": '" onmouseover="alert(1)'},
    )
    assert anchors(html) == [{"href": "/offers/", "title": "x"}, {"class": ["button"], "href": "/go/"}]
    # In text the value is still used, as text.
    assert "Hi javascript:alert(document.domain)</a>" in html


def test_placeholder_in_a_link_href_without_fallback_drops_the_href():
    html = render_body('<p><a href="{context.utm_source}">Go</a></p>', {"context.utm_source": "/elsewhere/"})
    assert anchors(html)[0] == {}


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "&#106;avascript:alert(1)",
        "&#x6A;avascript&colon;alert(1)",
        "\x01javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/",
        "/\\evil.example/",
        "\\\\evil.example/",
    ],
)
def test_rich_text_written_outside_the_admin_loses_disallowed_hrefs(href):
    html = render_body(f'<p><a href="{href}">Go</a></p>')
    assert anchors(html)[0] == {}


@pytest.mark.parametrize(
    "href",
    [
        "/offers/",
        "/offers/?a=1&b=2",
        "#top",
        "?page=2",
        "offers/",
        "https://example.com/x",
        "mailto:a@example.com",
        "tel:+3112",
    ],
)
def test_allowed_hrefs_are_kept(href):
    assert anchors(render_body(f'<p><a href="{href}">Go</a></p>'))[0] == {"href": href}


def test_rich_text_written_outside_the_admin_cannot_run_script():
    html = render_body(
        '<p onclick="alert(1)">A<script>alert(2)</script><img src=x onerror=alert(3)>'
        '<iframe src="javascript:alert(4)"></iframe><style>*{}</style><!-- c --><b>B</b></p></div><p>C'
    )
    from bs4 import BeautifulSoup

    body = BeautifulSoup(html, "html.parser").find(class_="body")
    assert str(body) == '<div class="body"><p>A<img src="x"/><b>B</b></p><p>C</p></div>'


def test_unsafe_cta_and_image_urls_are_dropped():
    image = {"url": "javascript:alert(1)", "alt": "A", "width": 1, "height": 1}
    html = render_body("", cta_url="javascript:alert(1)", image=image)
    assert "javascript:" not in html
    assert 'class="button"' not in html  # a CTA without a safe link is not rendered
    assert "<img" not in html


def test_a_placeholder_in_the_cta_url_takes_its_fallback():
    html = render_body("", {"context.utm_source": ATTACK}, cta_url="{context.utm_source|/offers/}")
    assert anchors(html) == [{"class": ["button"], "href": "/offers/"}]
    html = render_body("", {"context.utm_source": "/x/"}, cta_url="{context.utm_source}")
    assert anchors(html) == []


def test_api_params_carry_the_same_checked_values():
    from content.rendering import params_personalize

    params = hero_params("Hi", body='<p><a href="{context.utm_source|/}">Go</a></p>', cta_url="javascript:x")[0]
    out = params_personalize(params["value"], {"context.utm_source": ATTACK})
    assert out["body"] == '<p><a href="/">Go</a></p>'
    assert out["cta_url"] == ""


@pytest.mark.django_db
def test_visitor_cannot_choose_a_link_target_on_the_page(client):
    from content.services import slot_publish

    slot_publish(
        {
            "key": "x",
            "name": "X",
            "strategy": "fixed",
            "variants": [("a", "A", 1, hero_params("Hi", body='<p><a href="{context.utm_source|/}">Go</a></p>'))],
        },
    )
    page = page_with_slots("x")
    html = client.get(page.url, {"utm_source": ATTACK}).content.decode()
    from bs4 import BeautifulSoup

    link = BeautifulSoup(html, "html.parser").select_one('[data-tailor-slot="x"] .body a')
    assert link.attrs == {"href": "/"}
