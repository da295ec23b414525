"""A site adds its own micro-templates in ``TAILOR["MICRO_TEMPLATES"]``, without touching Tailor's code or migrations.

The site's template shows in the variant editor's block menu, a variant using it renders
with the site's file (parameters escaped as in the shipped ones), Tailor's ``content`` app
still wants no migration, and a mistake in the setting stops start-up with a message that
names the entry and what is wrong with it.
"""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse
from wagtail.test.utils.form_data import inline_formset, nested_form_data, streamfield

from content import micro_templates
from content.models import Slot, Variant
from tests.factories.slots import page_with_slots, slot_publish

PROMO = {
    "key": "promo",
    "label": "Promo strip",
    "template": "site/micro/promo.html",
    "fields": ["headline", "badge", "cta_label", "cta_url"],
    "icon": "pick",
}
SITE_TEMPLATES = Path(__file__).parent / "templates"


@pytest.fixture
def site_templates(settings):
    """The site's template folder on the template path, and its micro-templates in the setting."""
    engine = settings.TEMPLATES[0]
    settings.TEMPLATES = [{**engine, "DIRS": [*engine["DIRS"], SITE_TEMPLATES]}]

    def configure(*entries):
        settings.TAILOR = {**settings.TAILOR, "MICRO_TEMPLATES": list(entries)}

    configure(PROMO, "tests.content.site_micro.TICKER")
    return configure


def promo_params(headline: str, **extra: str) -> list[dict]:
    return [
        {"type": "promo", "value": {"headline": headline, "badge": "", "cta_label": "Go", "cta_url": "/go/", **extra}}
    ]


def block_menus(html: str) -> list[dict[str, str]]:
    """Each StreamField's block menu on an admin form (block name -> label), from Wagtail's block definitions."""
    menus = []
    for raw in re.findall(r'data-w-block-data-value="([^"]*)"', html):
        definition = json.loads(unescape(raw))
        if definition.get("_type") != "wagtail.blocks.StreamBlock":
            continue
        menu = {}
        for _group, children in definition["_args"][1]:
            for child in children:
                if "_args" in child:
                    menu[child["_args"][0]] = child["_args"][-1]["label"]
        menus.append(menu)
    return menus


def tailor_errors() -> list[checks.CheckMessage]:
    return [message for message in checks.run_checks() if message.id.startswith("content.")]


@pytest.mark.django_db
def test_a_variant_on_a_site_template_renders_with_the_sites_file_escaped(site_templates, client):
    slot_publish(
        {
            "key": "promo-slot",
            "name": "Promo slot",
            "strategy": "fixed",
            "variants": [("p", "Promo", 1, promo_params("<script>alert(1)</script> Sale", badge="-20%"))],
        },
        {},
    )
    html = client.get(page_with_slots("promo-slot").url).content.decode()
    assert '<aside class="site-promo">' in html
    assert 'class="tailor-slot tailor-promo"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Sale" in html
    assert "<script>alert(1)</script>" not in html
    assert "<em>-20%</em>" in html
    assert '<a href="/go/">Go</a>' in html


@pytest.mark.django_db
def test_the_variant_editor_offers_the_site_templates_and_saves_one(site_templates, admin_client):
    add_url = reverse("wagtailsnippets_content_slot:add")
    menus = block_menus(admin_client.get(add_url).content.decode())
    params_menu = next(menu for menu in menus if "hero" in menu)
    assert params_menu["promo"] == "Promo strip"
    assert params_menu["ticker"] == "News ticker"
    assert {"hero", "cta_banner", "product_card", "notice"} <= set(params_menu)

    promo = {"headline": "Two for one", "badge": "", "cta_label": "Shop", "cta_url": "/shop/"}
    variant = {"name": "Promo", "key": "p", "weight": "1", "params": streamfield([("promo", promo)])}
    data = {
        **{"name": "Promo slot", "key": "promo-slot", "description": "", "strategy": "fixed"},
        **{"default_variant": "", "rules": streamfield([]), "exploration": "epsilon", "exploration_rate": "0.1"},
        **{"temperature": "0.05", "reward": "click", "click_weight": "1", "conversion_weight": "5"},
        **{"trigger": "load", "trigger_value": "0", "variants": inline_formset([variant], min=1)},
    }
    response = admin_client.post(add_url, nested_form_data(data))
    assert response.status_code == 302
    saved = Slot.objects.get(key="promo-slot").variants.get()
    assert saved.template_key == "promo"
    assert saved.params[0].value["headline"] == "Two for one"


@pytest.mark.django_db
def test_a_site_template_needs_no_migration_in_tailors_content_app(site_templates):
    assert {"promo", "ticker"} <= set(Variant._meta.get_field("params").stream_block.child_blocks)
    # Exits with status 1 if the content app's models differ from its migrations.
    call_command("makemigrations", "content", check=True, dry_run=True, verbosity=0)


def test_the_setting_is_read_when_used_so_a_change_takes_effect(site_templates):
    assert micro_templates.get("promo").template == "site/micro/promo.html"
    site_templates()
    with pytest.raises(KeyError):
        micro_templates.get("promo")
    assert [mt.key for mt in micro_templates.all_templates()] == ["hero", "cta_banner", "product_card", "notice"]
    assert "promo" not in Variant._meta.get_field("params").stream_block.child_blocks


def test_a_valid_setting_passes_the_checks(site_templates):
    assert tailor_errors() == []


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (
            {**PROMO, "lable": "Promo"},
            'TAILOR["MICRO_TEMPLATES"][0] ("promo"): unknown key "lable" (did you mean "label"?)',
        ),
        ({k: v for k, v in PROMO.items() if k != "template"}, '[0] ("promo"): missing "template"'),
        (
            {**PROMO, "fields": ["headline", "subtitle"]},
            '[0] ("promo"): unknown field "subtitle"; use some of headline,',
        ),
        ({**PROMO, "fields": []}, '[0] ("promo"): "fields" must name at least one'),
        ({**PROMO, "key": "hero"}, '[0] ("hero"): the key "hero" is taken by a shipped micro-template'),
        ({**PROMO, "key": "promo-strip"}, '[0] ("promo-strip"): the key must be letters, digits and underscores'),
        (
            {**PROMO, "template": "site/micro/missing.html"},
            '[0] ("promo"): template "site/micro/missing.html" does not',
        ),
        ("tests.content.site_micro.NOPE", '[0] ("tests.content.site_micro.NOPE"): cannot import'),
        ("tests.content.site_micro.NOT_A_TEMPLATE", '[0] ("tests.content.site_micro.NOT_A_TEMPLATE"): 42 is not'),
        (["promo"], "[0]: an entry is a dict or the dotted path of one (or of a MicroTemplate), not ['promo']"),
    ],
)
def test_a_mistake_in_the_setting_is_a_check_error_naming_the_entry(site_templates, entry, problem):
    site_templates(entry)
    errors = tailor_errors()
    assert len(errors) == 1, errors
    assert errors[0].level == checks.ERROR
    assert problem in errors[0].msg


def test_two_entries_with_one_key_are_refused(site_templates):
    site_templates(PROMO, {**PROMO, "label": "Other promo"})
    assert 'TAILOR["MICRO_TEMPLATES"][1] ("promo"): the key "promo" is used by entry 0 as well' in str(
        [error.msg for error in tailor_errors()]
    )


def test_a_mistake_stops_start_up_and_serving_raises_improperly_configured(site_templates):
    site_templates({**PROMO, "lable": "Promo"})
    with pytest.raises(SystemCheckError, match=r'\(content\.E001\).*unknown key "lable"'):
        call_command("check")
    with pytest.raises(ImproperlyConfigured, match=r'unknown key "lable"'):
        micro_templates.all_templates()


def test_the_setting_must_be_a_list(settings):
    settings.TAILOR = {**settings.TAILOR, "MICRO_TEMPLATES": PROMO}
    assert [error.msg for error in tailor_errors()] == [
        f'TAILOR["MICRO_TEMPLATES"] must be a list of micro-templates, not {PROMO!r}.'
    ]
