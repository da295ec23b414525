"""Multivariate experiments in the admin: factors over a base variant, validated, then generated as slot variants."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from content.models import Slot
from personalization.engine.statistics.factorial import combinations_from_factors
from personalization.models import Experiment
from personalization.multivariate import design_from_json, experiment_combinations_generate
from personalization.serving.catalog import catalog_get
from tests.factories.experiments import experiment_form_data, form_errors
from tests.factories.slots import slot_create

pytestmark = pytest.mark.django_db

URL = "/admin/snippets/personalization/experiment/"
FACTORS = "headline: Save 10% | Free shipping\ncta_label: Buy | Shop now"
LEVELS = {"headline": ["Save 10%", "Free shipping"], "cta_label": ["Buy", "Shop now"]}


@pytest.fixture
def hero(db):
    return slot_create("hero", strategy="split", variants=[("a", 1), ("b", 1)], default="a")


def form(slot, **overrides) -> dict:
    factorial = {
        "name": "Hero factors",
        "key": "hero-mvt",
        "hypothesis": "",
        "variants": "",
        "share": "1",
        "guardrail_metrics": [],
        "base_variant": "a",
        "factors": FACTORS,
    }
    return experiment_form_data(slot, **{**factorial, **overrides})


def saved(admin_client, slot, **overrides) -> Experiment:
    response = admin_client.post(f"{URL}add/", form(slot, **overrides))
    assert response.status_code == 302, form_errors(response)
    return Experiment.objects.get(key="hero-mvt")


def test_factors_are_saved_with_the_base_variant_and_shown_back(admin_client, hero):
    experiment = saved(admin_client, hero)
    design = design_from_json(experiment.factors)
    assert design is not None
    assert (design.base, design.as_mapping()) == ("a", LEVELS)
    assert experiment.variants == []
    body = admin_client.get(f"{URL}edit/{experiment.pk}/").content.decode()
    assert "headline: Save 10% | Free shipping" in body
    assert f'href="{URL}combinations/{experiment.pk}/"' in body  # the header button


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"factors": "subtitle: A | B"}, "factors", "“subtitle” is not a parameter of the base variant's"),
        ({"factors": "headline: Only one"}, "factors", "at least two levels"),
        ({"factors": "headline: A | | B"}, "factors", "a level is empty"),
        ({"factors": "headline: A | A"}, "factors", "“A” is listed twice"),
        ({"factors": "headline A B"}, "factors", "a colon"),
        ({"factors": "headline: A | B\nheadline: C | D"}, "factors", "declared twice"),
        ({"factors": "cta_url: /ok/ | javascript:alert(1)"}, "factors", "cta_url: the level “javascript:alert(1)”"),
        ({"factors": "position: left | sideways"}, "factors", "position: the level “sideways”"),
        ({"factors": "image: 99999 | 99998"}, "factors", "no image has the id 99999"),
        ({"factors": "image: a | b"}, "factors", "not an image id"),
        (
            {
                "factors": "headline: "
                + " | ".join(f"h{i}" for i in range(9))
                + "\nbadge: "
                + " | ".join(f"b{i}" for i in range(8))
            },
            "factors",
            "more than 64 combinations",
        ),
        ({"base_variant": ""}, "base_variant", "needs the key of the variant"),
        ({"base_variant": "zz"}, "base_variant", "no variant zz"),
        ({"factors": ""}, "factors", "Declare at least one factor"),
    ],
)
def test_factor_errors_name_the_field(admin_client, hero, overrides, field, words):
    found = form_errors(admin_client.post(f"{URL}add/", form(hero, **overrides)))
    assert field in found, found
    assert any(words in message for message in found[field]), found[field]
    assert not Experiment.objects.exists()


def test_a_placeholder_with_a_pipe_stays_one_level(admin_client, hero):
    experiment = saved(admin_client, hero, factors="headline: Hi {visitor.first_name|there} | Hello")
    assert design_from_json(experiment.factors).as_mapping() == {"headline": ["Hi {visitor.first_name|there}", "Hello"]}


def test_publishing_before_generating_is_refused(admin_client, hero):
    found = form_errors(admin_client.post(f"{URL}add/", {**form(hero), "action-publish": "1"}))
    assert any("Generate the combinations" in message for message in found["variants"]), found


def test_generate_adds_the_combinations_as_a_published_slot_revision(admin_client, hero):
    experiment = saved(admin_client, hero)
    revisions = hero.revisions.count()
    page = admin_client.get(f"{URL}combinations/{experiment.pk}/")
    assert page.status_code == 200
    assert "Generate combinations (4 new)" in page.content.decode()

    response = admin_client.post(f"{URL}combinations/{experiment.pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"{URL}edit/{experiment.pk}/"

    combinations = combinations_from_factors(LEVELS)
    keys = [c.key for c in combinations]
    slot = Slot.objects.get(pk=hero.pk)
    assert slot.revisions.count() == revisions + 1
    assert not slot.has_unpublished_changes
    variants = {v.key: v for v in slot.variants.all()}
    assert set(variants) == {"a", "b", *keys}
    for combination in combinations:
        variant = variants[combination.key]
        assert variant.weight == 0  # the slot's own split never serves it outside the experiment
        (block,) = variant.params
        assert block.block_type == "hero"
        assert block.value["headline"] == combination.levels["headline"]
        assert block.value["cta_label"] == combination.levels["cta_label"]
        assert block.value["cta_url"] == "/go/"  # the rest from the base variant
    served = catalog_get().slots["hero"].variants
    assert set(keys) <= set(served)

    draft = Experiment.objects.get(pk=experiment.pk).get_latest_revision_as_object()
    assert draft.variants == keys  # the baseline combination (every first level) first
    assert keys[0] == combinations[0].key
    assert combinations[0].levels == {"headline": "Save 10%", "cta_label": "Buy"}
    design = design_from_json(draft.factors)
    assert dict(design.combinations) == {c.key: c.levels for c in combinations}

    # Publish from the editor: now it is served with the combinations as its arms.
    edit = admin_client.get(f"{URL}edit/{experiment.pk}/")
    assert ", ".join(keys) in edit.content.decode()
    response = admin_client.post(
        f"{URL}edit/{experiment.pk}/", {**form(hero, variants=", ".join(keys)), "action-publish": "1"}
    )
    assert response.status_code == 302, form_errors(response)
    (compiled,) = catalog_get().slots["hero"].experiments
    assert compiled.arms == tuple(keys)


def test_the_arms_of_a_generated_experiment_are_its_combinations(admin_client, hero):
    experiment = saved(admin_client, hero)
    keys = list(experiment_combinations_generate(experiment.pk).combinations)
    for variants in (keys[1:], [keys[1], keys[0], *keys[2:]], ["a", "b"]):
        found = form_errors(admin_client.post(f"{URL}edit/{experiment.pk}/", form(hero, variants=", ".join(variants))))
        assert any("serves every combination generated" in m for m in found["variants"]), found
    reordered = [keys[0], *reversed(keys[1:])]
    response = admin_client.post(f"{URL}edit/{experiment.pk}/", form(hero, variants=", ".join(reordered)))
    assert response.status_code == 302, form_errors(response)


def test_generating_again_is_idempotent_and_keeps_keys_when_a_level_is_added(admin_client, hero):
    experiment = saved(admin_client, hero)
    first = experiment_combinations_generate(experiment.pk)
    slot_revisions = Slot.objects.get(pk=hero.pk).revisions.count()
    experiment_revisions = experiment.revisions.count()

    again = experiment_combinations_generate(experiment.pk)
    assert again.added == ()
    assert again.combinations == first.combinations
    assert not again.experiment_changed
    assert Slot.objects.get(pk=hero.pk).revisions.count() == slot_revisions
    assert experiment.revisions.count() == experiment_revisions

    # A third headline: the four existing combinations keep their keys, two are added.
    keys = ", ".join(first.combinations)
    response = admin_client.post(
        f"{URL}edit/{experiment.pk}/",
        form(hero, variants=keys, factors="headline: Save 10% | Free shipping | New\ncta_label: Buy | Shop now"),
    )
    assert response.status_code == 302, form_errors(response)
    third = experiment_combinations_generate(experiment.pk)
    assert set(first.combinations) < set(third.combinations)
    assert len(third.added) == 2
    assert third.combinations[0] == first.combinations[0]


def test_a_slot_with_a_draft_is_not_published_by_generating(admin_client, hero):
    experiment = saved(admin_client, hero)
    draft = hero.get_latest_revision_as_object()
    draft.name = "Draft name"
    draft.save_revision()
    response = admin_client.post(f"{URL}combinations/{experiment.pk}/", follow=True)
    assert "unpublished changes" in response.content.decode()
    slot = Slot.objects.get(pk=hero.pk)
    assert [v.key for v in slot.variants.all()] == ["a", "b"]
    assert slot.name == "Hero"


def test_generating_needs_permission_and_a_post_with_csrf(django_user_model, hero, admin_user):
    admin = Client()
    admin.force_login(admin_user)
    experiment = saved(admin, hero)

    editor = django_user_model.objects.create_user("editor", password="x")  # noqa: S106 - test user
    group = Group.objects.create(name="Experiment editors")
    group.permissions.add(
        Permission.objects.get(codename="access_admin"),
        Permission.objects.get(codename="change_experiment"),
        Permission.objects.get(codename="change_slot", content_type__app_label="content"),
    )
    editor.groups.add(group)
    client = Client()
    client.force_login(editor)
    # May not publish slots: Wagtail answers a refused admin view with a redirect and a message.
    refused = client.post(f"{URL}combinations/{experiment.pk}/")
    assert (refused.status_code, refused["Location"]) == (302, "/admin/")
    assert [v.key for v in Slot.objects.get(pk=hero.pk).variants.all()] == ["a", "b"]
    edit = client.get(f"{URL}edit/{experiment.pk}/")
    assert edit.status_code == 200
    assert f"{URL}combinations/{experiment.pk}/" not in edit.content.decode()  # no button

    group.permissions.add(Permission.objects.get(codename="publish_slot"))
    editor = django_user_model.objects.get(pk=editor.pk)  # permissions are cached per user object
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(editor)
    assert strict.post(f"{URL}combinations/{experiment.pk}/").status_code == 403  # no CSRF token
    assert [v.key for v in Slot.objects.get(pk=hero.pk).variants.all()] == ["a", "b"]
    page = strict.get(f"{URL}combinations/{experiment.pk}/")
    assert page.status_code == 200
    token = page.cookies["csrftoken"].value
    response = strict.post(f"{URL}combinations/{experiment.pk}/", {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert len(Slot.objects.get(pk=hero.pk).variants.all()) == 6
    assert strict.put(f"{URL}combinations/{experiment.pk}/", HTTP_X_CSRFTOKEN=token).status_code == 405
