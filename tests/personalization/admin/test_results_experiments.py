"""Experiments and holdouts on the results dashboard, and experiment status in the Slots listing."""

from __future__ import annotations

import csv as csv_module
import io
from datetime import UTC, datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from personalization.models import GroupDay, VariantDay
from tests.factories.experiments import experiment_create
from tests.factories.results import variant_days_create
from tests.factories.slots import slot_create
from tests.factories.users import permitted_client

from .test_results_admin import HOSTILE, SLOTS_URL, page_url

pytestmark = pytest.mark.django_db


def today():
    # Read when a test runs, not when the module is collected: a suite may cross midnight (UTC).
    return datetime.now(UTC).date()


# 01:00 UTC nine days ago: the window starts that UTC day whatever the time of day the suite runs.
NINE_DAYS_AGO = datetime.combine(today() - timedelta(days=9), time(1), tzinfo=UTC)


@pytest.fixture
def viewer(django_user_model):
    return permitted_client(django_user_model, "viewer", "content.view_slot")


def group_days(slot: str, group: str, per_day: dict[str, tuple[int, int, int]], *, days: int) -> None:
    """Each variant gets (visitors, clicked, converted) every day of the last ``days`` in ``group``."""
    rows = []
    for offset in range(days):
        for variant, (visitors, clicked, converted) in per_day.items():
            rows.append(
                VariantDay(
                    slot_key=slot,
                    group=group,
                    variant_key=variant,
                    day=today() - timedelta(days=offset),
                    decisions=visitors,
                    impressions=visitors,
                    visitors_seen=visitors,
                    visitors=visitors,
                    visitors_clicked=clicked,
                    visitors_converted=converted,
                    updated_at=timezone.now(),
                )
            )
    VariantDay.objects.bulk_create(rows)


def cohort_days(slot: str, group: str, visitors: int, clicked: int, *, days: int) -> None:
    GroupDay.objects.bulk_create(
        GroupDay(
            slot_key=slot,
            group=group,
            day=today() - timedelta(days=offset),
            visitors=visitors,
            visitors_clicked=clicked,
            updated_at=timezone.now(),
        )
        for offset in range(days)
    )


@pytest.fixture
def hero(db):
    """A split slot: all its traffic has a ahead; its experiment (a vs b, 10 days) has b far ahead on clicks."""
    slot = slot_create("hero", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    group_days("hero", "", {"a": (300, 60, 4), "b": (300, 20, 4)}, days=14)
    group_days("hero", "experiment:bigger", {"a": (200, 10, 10), "b": (200, 40, 2)}, days=10)
    experiment_create(
        slot,
        "bigger",
        variants=("a", "b"),
        starts_at=NINE_DAYS_AGO,
        minimum_sample=1000,
        guardrail_metrics=["conversion_rate"],
    )
    return slot


# ---------------------------------------------------------------------------- the experiment picker


def test_without_an_experiment_the_dashboard_shows_all_traffic_and_offers_the_picker(viewer, hero):
    html = viewer.get(page_url()).content.decode()

    assert 'name="experiment"' in html
    assert '<option value="bigger">Experiment: Bigger (running)</option>' in html
    assert "Variant b is behind" in html
    assert "data-guardrails" not in html


def test_a_slot_without_experiments_has_no_picker(viewer, db):
    slot_create("quiet", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    html = viewer.get(page_url("quiet")).content.decode()
    assert 'name="experiment"' not in html


def test_choosing_an_experiment_shows_its_arms_its_window_and_its_guardrails(viewer, hero):
    response = viewer.get(page_url(experiment="bigger"))

    assert response.status_code == 200
    html = response.content.decode()
    assert '<option value="bigger" selected>' in html
    assert "Variant b is ahead" in html  # the experiment's rows alone: b leads there, a in all traffic
    assert "2,000" in html  # 10 days x 200 visitors per arm, not the slot's 14 days x 500
    assert "4,200" not in html
    assert "Running until" in html
    assert "Split as configured" in html  # 2,000 / 2,000 against 50 / 50
    assert "The minimum sample (1,000 visitors per variant, set on the experiment) is reached." in html
    # b's conversion rate 1 % against a's 5 %, over 2,000 each: the guardrail is worse.
    assert 'data-guardrail-status="worse"' in html
    assert "Conversion rate" in html
    start = (today() - timedelta(days=9)).isoformat()
    csv = reverse("tailor_results:csv", args=["hero"])
    assert f'href="{csv}?metric=click_rate&amp;days=14&amp;experiment=bigger"' in html
    assert html.count("<polyline") >= 2
    download = viewer.get(f"{csv}?experiment=bigger")
    assert f"tailor-results-hero-bigger-{start}-" in download["Content-Disposition"]
    rows = list(csv_module.DictReader(io.StringIO(download.content.decode())))
    assert len(rows) == 10 * 2  # the experiment's days only
    assert {row["visitors"] for row in rows} == {"200"}  # its group alone, not the slot's other traffic those days


@pytest.mark.parametrize(
    ("rows", "minimum", "status"),
    [
        ({"a": (200, 10, 10), "b": (200, 40, 10)}, 1000, "ok"),  # equal conversions, both arms past the minimum
        ({"a": (200, 10, 10), "b": (200, 40, 10)}, 5000, "not enough data"),  # no harm shown, but too early
        ({"a": (0, 0, 0), "b": (0, 0, 0)}, 10, "not enough data"),  # nobody yet
    ],
)
def test_each_guardrail_has_a_status(viewer, db, rows, minimum, status):
    slot = slot_create("guarded", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    group_days("guarded", "experiment:guard", rows, days=10)
    experiment_create(
        slot,
        "guard",
        starts_at=NINE_DAYS_AGO,
        minimum_sample=minimum,
        guardrail_metrics=["conversion_rate"],
    )

    html = viewer.get(page_url("guarded", experiment="guard")).content.decode()

    assert f'data-guardrail-status="{status}"' in html
    assert html.count("data-guardrail-status=") == 1


@pytest.mark.parametrize("key", ["nope", "<b>x</b>", "bigger%00"])
def test_an_unknown_experiment_is_a_message_not_an_error(viewer, hero, key):
    response = viewer.get(page_url(), {"experiment": key})

    assert response.status_code == 200
    html = response.content.decode()
    assert "experiment: " in html
    assert "Showing the default instead." in html
    assert "Variant b is behind" in html  # all traffic instead
    assert "<b>x</b>" not in html


def test_an_experiment_of_another_slot_is_not_shown_here(viewer, hero):
    other = slot_create("other", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    experiment_create(other, "elsewhere")

    response = viewer.get(page_url(experiment="elsewhere"))

    assert response.status_code == 200
    assert "Showing the default instead." in response.content.decode()
    assert viewer.get(reverse("tailor_results:csv", args=["hero"]) + "?experiment=elsewhere").status_code == 400


def test_a_hostile_experiment_name_is_escaped(viewer, hero):
    hero.experiments.update(name=HOSTILE)

    for html in (viewer.get(page_url()).content.decode(), viewer.get(page_url(experiment="bigger")).content.decode()):
        assert HOSTILE not in html
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html


def test_a_draft_experiment_says_so(viewer, hero):
    experiment_create(hero, "later", publish=False)

    html = viewer.get(page_url(experiment="later")).content.decode()

    assert "Draft: not published" in html
    assert "Not enough data yet" in html


# ---------------------------------------------------------------------------- the holdout panel


def test_a_slot_with_a_holdout_shows_the_live_uplift_over_doing_nothing(viewer, db):
    slot_create("held", strategy="split", variants=[("a", 1), ("b", 1)], default="a", holdout=0.1)
    variant_days_create("held", {"a": (450, 45), "b": (450, 60)}, days=14)
    cohort_days("held", "", 900, 105, days=14)
    cohort_days("held", "holdout", 100, 5, days=14)

    html = viewer.get(page_url("held")).content.decode()

    assert "Live uplift over doing nothing" in html
    assert "10% of visitors are held out on the default variant" in html
    assert "12,600" in html  # served visitors over 14 days
    assert "1,400" in html  # held out
    # 11.7 % against 5 %: +133 %, its always-valid interval beside it.
    assert "<strong>+133 % (95 %, look any time: " in html
    assert "Personalized is ahead" in html


def test_a_slot_without_a_holdout_has_no_holdout_panel(viewer, hero):
    assert "Live uplift over doing nothing" not in viewer.get(page_url()).content.decode()


def test_a_holdout_without_data_yet_says_so(viewer, db):
    slot_create("new", strategy="split", variants=[("a", 1), ("b", 1)], default="a", holdout=0.05)

    html = viewer.get(page_url("new")).content.decode()

    assert "Live uplift over doing nothing" in html
    assert "<strong>not measured yet</strong>" in html


# ---------------------------------------------------------------------------- the Slots listing


def test_the_listing_says_each_slots_experiment_status_with_a_link(viewer, hero):
    now = timezone.now()
    later = slot_create("later", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    experiment_create(later, "soon", starts_at=now + timedelta(days=2))
    done = slot_create("done", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    experiment_create(done, "old", starts_at=now - timedelta(days=40), ends_at=now - timedelta(days=30))
    slot_create("none", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    experiment_create(hero, "past", starts_at=now - timedelta(days=60), ends_at=now - timedelta(days=50))

    html = viewer.get(SLOTS_URL).content.decode()

    results = reverse("tailor_results:slot", args=["hero"])
    assert f'<a href="{results}?experiment=bigger">running until ' in html  # the running one, not the past one
    soon = reverse("tailor_results:slot", args=["later"])
    assert f'<a href="{soon}?experiment=soon">scheduled from ' in html
    old = reverse("tailor_results:slot", args=["done"])
    assert f'<a href="{old}?experiment=old">ended</a>' in html


def test_the_listing_reads_experiments_once_for_all_slots(viewer, db, django_assert_max_num_queries):
    def slots(first: int, last: int) -> None:
        for i in range(first, last):
            slot = slot_create(f"s{i}", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
            experiment_create(slot, f"e{i}")
            experiment_create(slot, f"p{i}", starts_at=timezone.now() - timedelta(days=90), max_days=5)

    def ours(queries) -> list[str]:
        return [q["sql"] for q in queries if "wagtailcore_revision" not in q["sql"]]

    slots(0, 3)
    viewer.get(SLOTS_URL)
    with django_assert_max_num_queries(40) as three:
        viewer.get(SLOTS_URL)
    slots(3, 13)
    with django_assert_max_num_queries(len(three.captured_queries) + 10) as thirteen:
        response = viewer.get(SLOTS_URL)

    assert response.content.decode().count("running until") == 13
    assert len(ours(thirteen.captured_queries)) == len(ours(three.captured_queries))
    assert sum("personalization_experiment" in sql for sql in ours(thirteen.captured_queries)) == 1


def test_an_experiment_without_two_variants_is_a_message_not_an_error(viewer, hero):
    experiment_create(hero, "lonely", publish=False)
    hero.experiments.filter(key="lonely").update(variants=["a"], weights=[])

    response = viewer.get(page_url(experiment="lonely"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "fewer than two variants to compare. Showing all of the slot&#x27;s traffic instead." in html
    assert "Variant b is behind" in html
    csv = viewer.get(reverse("tailor_results:csv", args=["hero"]) + "?experiment=lonely")
    assert csv.status_code == 400
    assert csv.content.decode().startswith("experiment: ")
