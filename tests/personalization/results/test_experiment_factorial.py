"""A multivariate experiment's results carry a factorial member read from its own visitors only."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from personalization.api.serializers import SlotResultsOutputSerializer
from personalization.engine.statistics import VariantSums
from personalization.engine.statistics.factorial import FactorialCell, factorial_analysis
from personalization.multivariate import experiment_combinations_generate
from personalization.results.experiments import experiment_results
from tests.factories.experiments import experiment_create
from tests.factories.results import variant_day_create
from tests.factories.slots import slot_create

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-results-token-0123456789"
FACTORS = [
    {"name": "headline", "levels": ["Save 10%", "Free shipping"]},
    {"name": "cta_label", "levels": ["Buy", "Shop now"]},
]


def today():
    # Read when a test runs, not when the module is collected: a suite may cross midnight (UTC).
    return datetime.now(UTC).date()


# Visitors and clickers per combination (product order): the free-shipping headline wins, the label does not matter.
OWN = [(2000, 100), (2000, 104), (2000, 160), (2000, 158)]


def day_row(group: str, variant: str, visitors: int, clicked: int, converted: int = 0, *, slot: str = "hero"):
    variant_day_create(slot, variant, visitors, clicked, converted, group=group, day=today())


@pytest.fixture
def multivariate(db, settings):
    """A published 2x2 experiment whose combinations were generated, with its own rows and other groups' rows."""
    settings.TAILOR = {**settings.TAILOR, "RESULTS_API_TOKEN": TOKEN}
    slot_create("hero", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    experiment = experiment_create(
        "hero",
        "mvt",
        variants=("a", "b"),
        starts_at=timezone.now() - timedelta(days=1),
        minimum_sample=1000,
        factors={"base": "a", "factors": FACTORS},
    )
    outcome = experiment_combinations_generate(experiment.pk)
    experiment.refresh_from_db()
    experiment.get_latest_revision().publish()
    experiment.refresh_from_db()
    assert experiment.variants == list(outcome.combinations)
    for key, (visitors, clicked) in zip(outcome.combinations, OWN, strict=True):
        day_row("experiment:mvt", key, visitors, clicked)
        # The same combinations served outside the experiment, with the opposite story: must not count.
        day_row("", key, 5000, 4000 if key == outcome.combinations[0] else 10)
        day_row("experiment:other", key, 5000, 4000)
    return experiment


def test_the_factorial_member_reads_the_experiment_group_only(multivariate):
    body = experiment_results(multivariate)
    factorial = body["factorial"]
    assert factorial["metric"] == "click_rate"
    assert [f["name"] for f in factorial["factors"]] == ["headline", "cta_label"]
    assert [(c["key"], c["visitors"]) for c in factorial["cells"]] == [(key, 2000) for key in multivariate.variants]
    assert factorial["visitors"] == 8000

    levels = {key: dict(cell["levels"]) for key, cell in zip(multivariate.variants, factorial["cells"], strict=True)}
    expected = factorial_analysis(
        [
            FactorialCell(levels[key], VariantSums(key, visitors, float(clicked), None))
            for key, (visitors, clicked) in zip(multivariate.variants, OWN, strict=True)
        ],
        {f["name"]: f["levels"] for f in FACTORS},
        kind="rate",
        tuning=1000.0 * 4,
    )
    terms = {term["name"]: term for term in factorial["terms"]}
    for term in expected.terms:
        assert terms[term.name]["estimate"] == pytest.approx(term.estimate)
        assert terms[term.name]["p_value"] == pytest.approx(term.p_value)
    headline = terms["headline[Free shipping]"]
    assert headline["estimate"] == pytest.approx((160 + 158 - 100 - 104) / 2 / 2000)
    assert "Headline: 'Free shipping' beats 'Save 10%'" in factorial["verdict"]
    assert "Call-to-action label: no clear difference between 'Shop now' and 'Buy'" in factorial["verdict"]
    assert factorial["verdict"] in body["verdict"]
    # The arms' comparison reads the same rows: the baseline combination is the control.
    assert body["control"] == multivariate.variants[0]
    assert [v["visitors"] for v in body["variants"]] == [2000] * 4


def test_an_ab_experiment_has_no_factorial_member(db):
    slot_create("hero", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    experiment = experiment_create("hero", "ab", variants=("a", "b"))
    day_row("experiment:ab", "a", 100, 10)
    day_row("experiment:ab", "b", 100, 12)
    assert "factorial" not in experiment_results(experiment)


def test_the_api_and_the_command_carry_the_factorial_member(client, multivariate):
    response = client.get("/api/v1/slots/hero/results/", {"experiment": "mvt"}, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == experiment_results(multivariate)
    documented = SlotResultsOutputSerializer(data=body)
    assert documented.is_valid(), documented.errors
    assert set(documented.validated_data["factorial"]) >= {"terms", "interaction_test", "cells", "verdict"}

    out = io.StringIO()
    call_command("results", "--slot", "hero", "--experiment", "mvt", "--json", stdout=out)
    # The command rolls up first, which replaces the hand-made rows (no decisions behind them): same body after.
    printed = json.loads(out.getvalue())
    assert printed["factorial"] == experiment_results(multivariate)["factorial"]
    assert [f["name"] for f in printed["factorial"]["factors"]] == ["headline", "cta_label"]


def test_the_command_table_lists_the_factor_terms(multivariate):
    from personalization.management.commands.results import results_table

    table = results_table(experiment_results(multivariate))
    assert "factor level vs baseline" in table
    assert "headline[Free shipping]" in table
    assert "+2.85%" in table  # (160 + 158 - 100 - 104) / 2 / 2000
    assert "headline[Free shipping]:cta_label[Shop now]" in table


def test_the_schema_documents_the_factorial_member():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    output = schema["components"]["schemas"]["SlotResultsOutput"]["properties"]
    assert "factorial" in output
    factorial = schema["components"]["schemas"]["ResultsFactorial"]["properties"]
    assert {"terms", "interaction_test", "cells", "factors", "words", "verdict"} <= set(factorial)
