"""A variant whose micro-template fails leaves its place empty and is counted for the guardrails."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from content.selectors import VariantDefinition
from personalization.serving.decide import Decision
from personalization.serving.render import decision_represent
from personalization.serving.render_counts import render_counts_flush, render_counts_get
from tests.personalization.guardrails.conftest import _render_counts_empty  # noqa: F401 - autouse fixture
from tracking.visitors import VisitorState


def _decision(variant: str, template: str) -> Decision:
    definition = VariantDefinition(variant, variant.upper(), template, {"headline": "Hi"}, 1, False)
    return Decision("d1", "hero", definition, 1.0, "fixed", "1", None, "default")


@pytest.mark.django_db
def test_a_failing_template_renders_nothing_and_counts_an_error_per_variant(caplog):
    visitor = VisitorState(id="")
    # "gone": a micro-template the site no longer registers (removed from TAILOR["MICRO_TEMPLATES"]).
    with caplog.at_level(logging.ERROR, logger="personalization.serving.render"):
        broken = decision_represent(_decision("b", "gone"), visitor, {}, html=True)
    fine = decision_represent(_decision("a", "hero"), visitor, {}, html=True)
    render_counts_flush()

    assert broken["html"] == ""
    assert 'data-tailor-variant="a"' in fine["html"]
    assert "Variant 'b' of slot 'hero' failed to render" in caplog.text
    today = datetime.now(UTC).date()
    assert render_counts_get("hero", ["a", "b"], today, today) == {"a": (1, 0), "b": (1, 1)}
