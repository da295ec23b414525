"""GET /api/v1/slots/<key>/results/ and manage.py results: the contract, who may read it, and bad requests."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from personalization.results.rollup import results_rollup
from personalization.results.selectors import slot_results
from tests.factories.slots import slot_create

from .conftest import event, seen

pytestmark = pytest.mark.django_db

URL = "/api/v1/slots/hero/results/"
TOKEN = "s3cret-results-token-0123456789"
CONTRACT = {"slot", "window", "metric", "control", "srm_p_value", "variants", "comparisons", "verdict"}
CUPED = "cuped"  # the member added beside the contract: whether CUPED adjusted the comparisons
VARIANT_KEYS = {"key", "visitors", "conversions", "rate", "ci95"}
COMPARISON_KEYS = {
    "variant",
    "control",
    "lift",
    "lift_ci95",
    "p_value",
    "sequential_ci95",
    "chance_to_beat",
    "expected_loss",
}


@pytest.fixture
def hero(db, settings):
    """A 50/50 split slot, b the default (control), with 40 visitors per variant seen today: b 10 clicks, a 20."""
    settings.TAILOR = {**settings.TAILOR, "RESULTS_API_TOKEN": TOKEN}
    slot = slot_create("hero", strategy="split", variants=[("a", 1), ("b", 1)], default="b")
    now = datetime.now(UTC).replace(microsecond=0)
    for variant, clicks in (("a", 20), ("b", 10)):
        for i in range(40):
            visitor = uuid.uuid4()
            shown = seen(visitor, variant, now - timedelta(minutes=30))
            if i < clicks:
                event(visitor, "click", now - timedelta(minutes=29), shown)
    return slot


def editor(django_user_model, *perms: str, name: str = "editor") -> Client:
    user = django_user_model.objects.create_user(name, password="pw-12345-long")
    group = Group.objects.create(name=f"Group {name}")
    for perm in perms:
        app, codename = perm.split(".")
        group.permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    user.groups.add(group)
    client = Client()
    client.force_login(user)
    return client


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_the_body_is_the_contract_with_control_and_verdict(client, hero):
    results_rollup()
    response = client.get(URL, **bearer(TOKEN))

    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert set(body) == CONTRACT | {CUPED}
    assert body["slot"] == "hero"
    assert body["metric"] == "click_rate"  # the slot is rewarded on clicks
    assert set(body["window"]) == {"start", "end"}
    assert body["control"] == "b"
    # control first, then the others in the slot's order
    assert [(v["key"], v["visitors"], v["conversions"]) for v in body["variants"]] == [("b", 40, 10), ("a", 40, 20)]
    assert all(set(v) == VARIANT_KEYS for v in body["variants"])
    [comparison] = body["comparisons"]
    assert set(comparison) == COMPARISON_KEYS
    assert (comparison["variant"], comparison["control"]) == ("a", "b")
    assert comparison["lift"] == pytest.approx(1.0)  # 50 % against 25 %
    assert body["srm_p_value"] == pytest.approx(1.0)  # 40 / 40 on a 1:1 split
    assert "Variant a" in body["verdict"]


def test_a_window_sums_its_days_and_other_metrics_read_other_sums(client, hero):
    results_rollup()
    today = datetime.now(UTC).date()
    body = slot_results("hero", today - timedelta(days=6), today, "value_per_visitor")
    assert body["metric"] == "value_per_visitor"
    assert [v["visitors"] for v in body["variants"]] == [40, 40]
    empty = slot_results("hero", today - timedelta(days=30), today - timedelta(days=7))
    assert [v["visitors"] for v in empty["variants"]] == [0, 0]
    assert empty["verdict"].startswith("Not enough data yet")


def test_anonymous_is_refused_with_401(client, hero):
    response = client.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "variants" not in response.json()


@pytest.mark.parametrize("header", ["Bearer wrong-token", f"Bearer {TOKEN}x", "Bearer ", f"bearer  {TOKEN[:-1]}"])
def test_a_wrong_token_is_refused(client, hero, header):
    response = client.get(URL, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert "variants" not in response.json()


def test_no_token_configured_refuses_every_token(client, hero, settings):
    settings.TAILOR = {**settings.TAILOR, "RESULTS_API_TOKEN": ""}
    assert client.get(URL, **bearer("")).status_code == 401
    assert client.get(URL, **bearer(TOKEN)).status_code == 401


def test_an_editor_who_may_view_slots_reads_results(hero, django_user_model):
    reader = editor(django_user_model, "wagtailadmin.access_admin", "content.view_slot")
    assert reader.get(URL).status_code == 200


@pytest.mark.parametrize(
    "perms",
    [(), ("wagtailadmin.access_admin",), ("content.view_slot",)],
    ids=["no permission", "admin without slots", "slots without admin"],
)
def test_a_user_without_both_permissions_is_refused_with_403(hero, django_user_model, perms):
    response = editor(django_user_model, *perms).get(URL)
    assert response.status_code == 403
    assert "variants" not in response.json()


def test_an_unknown_slot_is_404(client, hero):
    response = client.get("/api/v1/slots/no-such-slot/results/", **bearer(TOKEN))
    assert response.status_code == 404
    assert "no-such-slot" in response.json()["detail"]
    assert client.get("/api/v1/slots/a/b/results/", **bearer(TOKEN)).status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"days": "0"}, "days"),
        ({"days": "367"}, "days"),
        ({"days": "seven"}, "days"),
        ({"metric": "revenue"}, "metric"),
        ({"metric": "click_rate; drop"}, "metric"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(client, hero, query, field):
    response = client.get(URL, query, **bearer(TOKEN))
    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_an_empty_parameter_means_its_default(client, hero):
    """As in an HTML form: ?metric=&days= is the same as leaving them out."""
    response = client.get(URL, {"metric": "", "days": ""}, **bearer(TOKEN))
    assert response.status_code == 200
    assert response.json()["metric"] == "click_rate"


def test_the_command_rolls_up_first_and_prints_the_apis_json(client, hero):
    out = io.StringIO()
    call_command("results", "--slot", "hero", "--json", "--days", "7", "--metric", "click_rate", stdout=out)
    printed = json.loads(out.getvalue())

    assert [v["visitors"] for v in printed["variants"]] == [40, 40]  # rolled up by the command itself
    api = client.get(URL, {"days": "7", "metric": "click_rate"}, **bearer(TOKEN)).json()
    assert printed == api


def test_the_command_prints_a_table_without_json(hero):
    out = io.StringIO()
    call_command("results", "--slot", "hero", stdout=out)
    text = out.getvalue()
    assert "b (control)" in text
    assert "50.00%" in text
    assert "25.00%" in text
    assert "Variant a" in text  # the verdict


def test_the_command_names_an_unknown_slot(hero):
    with pytest.raises(CommandError, match="nope"):
        call_command("results", "--slot", "nope", stdout=io.StringIO())


def test_a_rules_slot_has_no_sample_ratio_check_and_says_it_is_not_randomized(client, db, settings):
    settings.TAILOR = {**settings.TAILOR, "RESULTS_API_TOKEN": TOKEN}
    slot_create("promo", strategy="rules", variants=[("x", 1), ("y", 1)])
    now = datetime.now(UTC)
    for variant, n in (("x", 30), ("y", 5)):
        for _ in range(n):
            seen(uuid.uuid4(), variant, now - timedelta(minutes=5), slot="promo")
    results_rollup()

    body = client.get("/api/v1/slots/promo/results/", **bearer(TOKEN)).json()

    assert body["control"] == "x"  # no default: the first variant
    assert body["srm_p_value"] is None
    assert "not assigned at random" in body["verdict"]
    assert "Do not trust" not in body["verdict"]


def test_a_split_slot_with_a_paused_variant_is_still_randomized_but_its_split_is_not_checked(client, hero):
    from content.models import Variant
    from personalization.results.dashboard import sample_ratio_status

    Variant.objects.filter(slot=hero, key="a").update(is_paused=True)  # a guardrail or an editor paused it
    results_rollup()

    body = client.get(URL, **bearer(TOKEN)).json()

    assert body["srm_p_value"] is None
    assert "not assigned at random" not in body["verdict"]
    assert "assigned at random while it was live" in body["verdict"]
    assert "paused or has no weight" in sample_ratio_status(None, "split").text


def test_a_single_variant_slot_shows_its_figures_and_nothing_to_compare(client, db, settings):
    settings.TAILOR = {**settings.TAILOR, "RESULTS_API_TOKEN": TOKEN}
    slot_create("solo", strategy="fixed", variants=[("only", 1)])
    for _ in range(3):
        seen(uuid.uuid4(), "only", datetime.now(UTC) - timedelta(minutes=5), slot="solo")
    results_rollup()

    body = client.get("/api/v1/slots/solo/results/", **bearer(TOKEN)).json()

    assert set(body) == CONTRACT | {CUPED}
    assert body["control"] == "only"
    assert [(v["key"], v["visitors"]) for v in body["variants"]] == [("only", 3)]
    assert body["comparisons"] == []
    assert "single variant" in body["verdict"]
