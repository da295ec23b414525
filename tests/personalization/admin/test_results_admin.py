"""The results dashboard and its CSV: who may open them, bad query strings, escaping, and the Slots listing's columns."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client
from django.urls import reverse

from content.models import Slot
from personalization.models import ModelVersion
from tests.factories.results import variant_days_create
from tests.factories.slots import slot_create
from tests.factories.users import permitted_client

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>'
SLOTS_URL = "/admin/snippets/content/slot/"


@pytest.fixture
def hero(db):
    """A 50/50 split: b (control) 400 visitors a day, 20 clickers; a 400 and 32; 14 days."""
    slot = slot_create("hero", strategy="split", variants=[("a", 1), ("b", 1)], default="b")
    variant_days_create("hero", {"a": (400, 32), "b": (400, 20)}, days=14)
    return slot


@pytest.fixture
def viewer(django_user_model):
    return permitted_client(django_user_model, "viewer", "content.view_slot")


def page_url(key: str = "hero", **query) -> str:
    url = reverse("tailor_results:slot", args=[key])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def csv_url(key: str = "hero", **query) -> str:
    url = reverse("tailor_results:csv", args=[key])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


# ---------------------------------------------------------------------------- the dashboard


def test_the_dashboard_shows_each_variant_the_chart_and_the_verdict(viewer, hero):
    response = viewer.get(page_url())

    assert response.status_code == 200
    html = response.content.decode()
    assert "Variant a" in html
    assert "Variant b" in html
    assert "5,600" in html or "5600" in html  # 14 days x 400 visitors
    assert "Variant a is ahead" in html  # 8 % against 5 % over 5,600 visitors each
    assert "chance to beat Variant b" in html
    assert "The minimum sample (" in html
    assert "visitors per variant to detect a 10 % lift)" in html
    assert html.count("<svg") >= 2
    assert 'role="img"' in html
    assert "Split as configured" in html
    assert 'class="w-panel' in html
    assert 'class="listing"' in html
    # Rows without covariate sums: the comparisons stay raw, and the page says why.
    assert "Not adjusted for prior visits (CUPED): prior visits do not vary within every variant yet" in html


def test_cuped_in_words():
    from personalization.results.dashboard import cuped_words

    applied = {"covariate": "prior visits", "applied": True, "variance_reduction": 0.123, "reason": None}
    assert cuped_words(applied).startswith("Adjusted for prior visits (CUPED): 12% less noise")
    assert "0% less noise" in cuped_words({**applied, "variance_reduction": -2e-7})  # noise, not a loss
    off = {**applied, "applied": False, "variance_reduction": None, "reason": "turned off for this request"}
    assert cuped_words(off) == "Not adjusted for prior visits (CUPED): turned off for this request."
    assert cuped_words(None) == ""


def test_the_minimum_sample_says_when_it_is_reached(viewer, db):
    slot_create("small", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    variant_days_create("small", {"a": (100, 5), "b": (100, 6)}, days=7)

    html = viewer.get(page_url("small")).content.decode()

    # a's (control's) 5 % needs 31,218 per variant for a 10 % lift: 30,518 more at 100 a day.
    assert "is reached in about 306 days" in html


@pytest.mark.parametrize(
    ("variants", "days", "words"),
    [
        ([("a", 1), ("b", 1)], 0, "Not enough data yet"),
        ([("a", 1)], 3, "single variant"),
        ([("a", 1), ("b", 1)], 1, "Not enough data yet"),  # one visitor each, today
    ],
)
def test_a_slot_without_much_data_still_has_a_page(viewer, db, variants, days, words):
    slot_create("quiet", strategy="split", variants=variants, default="a")
    if days:
        variant_days_create("quiet", {key: (1, 0) for key, _ in variants}, days=days)

    response = viewer.get(page_url("quiet", days="1"))

    assert response.status_code == 200
    html = response.content.decode()
    assert words in html
    assert html.count("<svg") >= 2


def test_a_model_slot_shows_the_serving_model(viewer, db):
    slot_create("picks", strategy="model", variants=[("a", 1), ("b", 1)], default="a")
    version = ModelVersion.objects.create(slot_key="picks", status=ModelVersion.Status.ACTIVE, model_text="")

    html = viewer.get(page_url("picks")).content.decode()

    assert f"Model #{version.pk} serves this slot" in html
    assert "Not checked" in html  # a model chooses: there is no configured split to check


@pytest.mark.parametrize(
    ("query", "field"),
    [({"days": "abc"}, "days"), ({"days": "0"}, "days"), ({"days": "9999"}, "days"), ({"metric": "bogus"}, "metric")],
)
def test_a_bad_query_is_a_message_not_an_error(viewer, hero, query, field):
    response = viewer.get(page_url(**query))

    assert response.status_code == 200
    html = response.content.decode()
    assert f"{field}: " in html
    assert "Showing the default instead." in html
    assert "Variant a is ahead" in html  # the defaults (14 days, click rate) still show


def test_a_bad_csv_query_is_a_400_naming_the_field(viewer, hero):
    response = viewer.get(csv_url(days="-3"))

    assert response.status_code == 400
    assert response.content.decode().startswith("days: ")


def test_a_window_and_a_metric_from_the_pickers(viewer, hero):
    html = viewer.get(page_url(days="7", metric="conversion_rate")).content.decode()

    assert "2,800" in html or "2800" in html
    assert '<option value="conversion_rate" selected>' in html


def test_a_published_goal_is_in_the_metric_picker(viewer, hero):
    from tracking.models import Goal

    Goal.objects.create(key="signup", name="Signed up", kind="event", live=True)
    html = viewer.get(page_url(metric="goal:signup")).content.decode()

    assert '<option value="goal:signup" selected>Goal: Signed up</option>' in html
    assert '<option value="goal_value:signup">Goal value per visitor: Signed up</option>' in html
    assert "Goal: Signed up" in html  # the table's column
    rows = list(csv.reader(io.StringIO(viewer.get(csv_url(metric="goal:signup")).content.decode())))
    assert {row[11] for row in rows[1:]} == {"0.0"}  # no goal reached in these rows: a 0 rate, not the clicks'


def test_an_unknown_slot_is_404(viewer, db):
    assert viewer.get(page_url("nope")).status_code == 404
    assert viewer.get(csv_url("nope")).status_code == 404


def test_an_editor_who_cannot_see_slots_is_refused(django_user_model, hero):
    client = permitted_client(django_user_model, "plain")
    ajax = {"headers": {"x-requested-with": "XMLHttpRequest"}}

    assert client.get(page_url(), **ajax).status_code == 403
    assert client.get(csv_url(), **ajax).status_code == 403
    assert client.get(page_url()).url == reverse("wagtailadmin_home")  # a browser is sent back with a message


def test_anonymous_is_sent_to_login(client, hero):
    response = client.get(page_url())
    assert response.status_code == 302
    assert "/admin/login/" in response.url


def test_a_superuser_may_open_it(django_user_model, hero):
    user = django_user_model.objects.create_superuser("root", password="pw-12345-long")
    client = Client()
    client.force_login(user)
    assert client.get(page_url()).status_code == 200


def test_a_hostile_variant_name_is_escaped_everywhere(viewer, hero):
    Slot.objects.get(key="hero").variants.filter(key="a").update(name=HOSTILE)

    html = viewer.get(page_url()).content.decode()

    assert HOSTILE not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    svg = html[html.index("<svg") : html.rindex("</svg>")]
    assert "<script" not in svg
    assert "&lt;script&gt;" in svg  # in the chart's legend and description too
    listing = viewer.get(SLOTS_URL).content.decode()  # a is the leading variant there
    assert HOSTILE not in listing
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in listing


# ---------------------------------------------------------------------------- CSV


def test_the_csv_has_one_row_per_variant_per_day(viewer, hero):
    response = viewer.get(csv_url(days="7"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="tailor-results-hero-')
    assert disposition.endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 7 * 2
    a = next(row for row in rows if row["variant"] == "a")
    assert a["variant_name"] == "Variant a"
    assert (a["visitors"], a["visitors_clicked"], a["decisions"]) == ("400", "32", "800")
    assert float(a["rate"]) == pytest.approx(0.08)


@pytest.mark.parametrize("name", ['=HYPERLINK("http://evil")', "+1+1", "-2+3", "@SUM(A1)"])
def test_csv_cells_that_a_spreadsheet_would_run_get_an_apostrophe(viewer, hero, name):
    Slot.objects.get(key="hero").variants.filter(key="a").update(name=name)

    rows = list(csv.DictReader(io.StringIO(viewer.get(csv_url()).content.decode())))

    names = {row["variant_name"] for row in rows if row["variant"] == "a"}
    assert names == {"'" + name}


# ---------------------------------------------------------------------------- the Slots listing


def test_the_listing_shows_visitors_leader_and_a_results_link(viewer, hero):
    html = viewer.get(SLOTS_URL).content.decode()

    assert "Visitors (7 days)" in html
    assert "Leading" in html
    assert "Experiment" in html
    assert "5,600" in html  # 7 days x 2 variants x 400
    assert "Variant a" in html
    results = reverse("tailor_results:slot", args=["hero"])
    assert html.count(f'href="{results}"') == 2  # the Results column and the row's "More" menu


def test_the_slot_edit_screen_has_a_results_button(django_user_model, hero):
    editor = permitted_client(django_user_model, "editor", "content.change_slot")
    edit_url = reverse(Slot.snippet_viewset.get_url_name("edit"), args=[hero.pk])

    html = editor.get(edit_url).content.decode()

    results = reverse("tailor_results:slot", args=["hero"])
    button = re.search(rf'<a [^>]*href="{results}"[^>]*>', html)
    assert button is not None
    assert "w-header-button" in button.group(0)


def test_the_listing_reads_the_rollup_once_for_all_slots(viewer, db, django_assert_max_num_queries):
    def slots(first: int, last: int) -> None:
        for i in range(first, last):
            slot_create(f"s{i}", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
            variant_days_create(f"s{i}", {"a": (10, 1), "b": (10, 2)}, days=7)

    def ours(queries) -> list[str]:
        # Wagtail itself asks each draft-state snippet for a scheduled revision (one query per row,
        # whatever the columns): everything else must not grow with the number of slots.
        return [q["sql"] for q in queries if "wagtailcore_revision" not in q["sql"]]

    slots(0, 3)
    viewer.get(SLOTS_URL)  # warm caches (content types, permissions)
    with django_assert_max_num_queries(30) as three:
        viewer.get(SLOTS_URL)
    slots(3, 13)
    with django_assert_max_num_queries(len(three.captured_queries) + 10) as thirteen:
        response = viewer.get(SLOTS_URL)

    assert response.content.decode().count(">Results</a>") == 13
    assert len(ours(thirteen.captured_queries)) == len(ours(three.captured_queries))
    assert sum("personalization_variantday" in sql for sql in ours(thirteen.captured_queries)) == 1
