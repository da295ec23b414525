"""The guardrail job on the database: harm pauses or rolls back with an audit entry and a notice; a dry run reports."""

from __future__ import annotations

import pytest
from django.urls import reverse
from wagtail.models import ModelLogEntry

from content.models import Slot, Variant
from personalization.guardrails.checks import PAUSE, REPORT, ROLLBACK, guardrails_check
from personalization.serving.render_counts import render_count, render_counts_flush
from tests.factories.results import variant_days_create
from tests.factories.slots import hero_params, slot_create

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>'


def _entries(slot: Slot, action: str) -> list[ModelLogEntry]:
    return list(ModelLogEntry.objects.for_instance(slot).filter(action=action).order_by("timestamp"))


def _split(key: str = "hero", *, action: str = "act") -> Slot:
    slot = slot_create(key, strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    if action != "act":
        draft = slot.get_latest_revision_as_object()
        draft.guardrail_action = action
        draft.save_revision().publish()
    return Slot.objects.get(key=key)


def _paused(key: str, variant: str) -> bool:
    return Slot.objects.get(key=key).variants.get(key=variant).is_paused


def test_a_variant_with_half_the_click_rate_is_paused_with_its_evidence_and_editors_see_it(admin_client):
    slot = _split()
    Variant.objects.filter(slot=slot, key="b").update(name=HOSTILE)  # a name is shown escaped in the notice
    variant_days_create("hero", {"a": (4000, 200), "b": (4000, 100)}, days=1)

    report = guardrails_check()

    assert [(f.variant, f.metric, f.action) for f in report.findings] == [("b", "click_rate", "pause")]
    slot = Slot.objects.get(key="hero")
    assert _paused("hero", "b")
    assert slot.live_revision.as_object().variants.get(key="b").is_paused  # a published revision: history has it
    (entry,) = _entries(slot, PAUSE)
    assert entry.user is None
    assert entry.revision_id == slot.live_revision_id
    data = entry.data
    assert (data["metric"], data["variant"], data["control"]) == ("click_rate", "b", "a")
    assert (data["variant_visitors"], data["control_visitors"]) == (4000, 4000)
    assert data["variant_rate"] == pytest.approx(0.025)
    assert data["control_rate"] == pytest.approx(0.05)
    assert data["bound"] < 0
    assert data["window"]["start"] == data["window"]["end"]

    for url in (
        reverse(Slot.snippet_viewset.get_url_name("edit"), args=[slot.pk]),
        reverse("tailor_results:slot", args=["hero"]),
    ):
        html = admin_client.get(url).content.decode()
        assert 'data-guardrail-notice="tailor.guardrail_pause"' in html, url
        assert "help-critical" in html
        assert "Paused by the guardrail" in html
        assert HOSTILE not in html
        assert "&lt;script&gt;" in html
    history = admin_client.get(reverse(Slot.snippet_viewset.get_url_name("history"), args=[slot.pk]))
    assert "Guardrail: pause a harmful variant" in history.content.decode()

    assert guardrails_check().findings == []  # paused: no longer tested, nothing written twice
    assert len(_entries(slot, PAUSE)) == 1


def test_a_dry_run_slot_only_reports_once(admin_client):
    slot = _split(action="report")
    variant_days_create("hero", {"a": (4000, 200), "b": (4000, 100)}, days=1)

    assert [f.action for f in guardrails_check().findings] == ["report"]
    assert [f.action for f in guardrails_check().findings] == [""]  # the same finding, not written again

    assert not _paused("hero", "b")
    assert len(_entries(slot, REPORT)) == 1
    assert not _entries(slot, PAUSE)
    html = admin_client.get(reverse("tailor_results:slot", args=["hero"])).content.decode()
    assert 'data-guardrail-notice="tailor.guardrail_report"' in html
    assert "help-warning" in html


def test_equal_variants_are_left_alone():
    slot = _split()
    variant_days_create("hero", {"a": (4000, 200), "b": (4000, 195)}, days=1)
    report = guardrails_check()
    assert report.findings == []
    assert report.tests == 1
    assert not _paused("hero", "b")
    assert not _entries(slot, PAUSE)


def test_harm_that_began_with_the_latest_revision_rolls_the_slot_back():
    slot = _split()
    first = slot.live_revision_id
    draft = slot.get_latest_revision_as_object()
    variants = list(draft.variants.all())
    variants[1].params = hero_params("A headline that drives visitors away")
    draft.variants = variants
    draft.save_revision().publish()
    variant_days_create("hero", {"a": (4000, 200), "b": (4000, 100)}, days=1)

    assert [f.action for f in guardrails_check().findings] == ["rollback"]

    slot = Slot.objects.get(key="hero")
    served = slot.variants.get(key="b")
    assert served.params[0].value["headline"] == "Headline b"
    assert not served.is_paused
    (entry,) = _entries(slot, ROLLBACK)
    assert entry.data["rolled_back_to"] == first
    assert entry.data["revision"] == slot.live_revision_id
    assert ModelLogEntry.objects.for_instance(slot).filter(action="wagtail.revert").exists()
    # The day of the rollback mixes the harmful revision's visitors with the restored one's: not read again.
    assert guardrails_check().findings == []


def test_a_model_slot_is_not_judged_on_its_own_traffic():
    slot = slot_create("hero", strategy="model", variants=[("a", 1), ("b", 1)], default="a")
    variant_days_create("hero", {"a": (4000, 200), "b": (4000, 100)}, days=1)
    assert guardrails_check().findings == []
    assert not _paused("hero", "b")
    assert not _entries(slot, PAUSE)


def test_render_errors_pause_a_variant_whose_template_fails():
    slot = slot_create("hero", strategy="rules", variants=[("a", 1), ("b", 1)], default="a")
    for _ in range(200):
        render_count("hero", "a", failed=False)
    for i in range(60):
        render_count("hero", "b", failed=i % 3 == 0)
    render_counts_flush()

    (finding,) = guardrails_check().findings
    assert (finding.variant, finding.metric, finding.action) == ("b", "render_errors", "pause")
    (entry,) = _entries(slot, PAUSE)
    assert entry.data["variant_rate"] == pytest.approx(20 / 60)
    assert entry.data["control_rate"] == 0


def test_the_rollup_task_runs_the_guardrails_on_what_it_just_rolled_up():
    """End to end: decisions and events -> the real rollup task -> the guardrail job it triggers -> a pause."""
    import uuid
    from datetime import UTC, datetime, timedelta

    from personalization import tasks
    from tracking.models import DecisionLog, Event

    slot = _split()
    now = datetime.now(UTC)
    # Today (UTC), as the slot was published today: just after midnight an hour ago would be yesterday's rollup day.
    start = max(now.replace(hour=0, minute=0, second=0, microsecond=0), now - timedelta(hours=1))
    decisions, events = [], []
    for i in range(3000):
        variant = "a" if i % 2 else "b"
        visitor, decision_id = uuid.uuid4(), uuid.uuid4()
        when = start + timedelta(seconds=i)
        decisions.append(
            DecisionLog(
                id=decision_id,
                created_at=when,
                visitor_id=visitor,
                slot_key="hero",
                variant_key=variant,
                policy="split",
                propensity=0.5,
            )
        )
        kinds = ["impression"]
        if (i // 2) % 25 < (3 if variant == "a" else 1):  # a: 12 % click, b: 4 %
            kinds.append("click")
        for k, kind in enumerate(kinds):
            at = when + timedelta(seconds=1 + k)
            events.append(
                Event(id=uuid.uuid4(), visitor_id=visitor, decision_id=decision_id, type=kind, ts=at, received_at=at)
            )
    DecisionLog.objects.bulk_create(decisions)
    Event.objects.bulk_create(events)

    tasks.results_rollup()

    assert _paused("hero", "b")
    (entry,) = _entries(slot, PAUSE)
    assert entry.data["variant_visitors"] == 1500
    assert entry.data["control_rate"] == pytest.approx(0.12)
    assert entry.data["variant_rate"] == pytest.approx(0.04)


def test_a_model_slot_is_judged_inside_its_experiment_against_the_experiments_control():
    from tests.factories.experiments import experiment_create

    slot = slot_create("hero", strategy="model", variants=[("a", 1), ("b", 1), ("c", 1)], default="a")
    experiment_create(slot, "headline-test", variants=("c", "b"))
    # The model's own traffic says nothing (b is shown to whom the model picks); the experiment is randomized.
    variant_days_create("hero", {"a": (4000, 400), "b": (4000, 100)}, days=1)
    variant_days_create("hero", {"c": (3000, 150), "b": (3000, 75)}, days=1, group="experiment:headline-test")

    (finding,) = guardrails_check().findings
    assert (finding.variant, finding.group, finding.action) == ("b", "experiment:headline-test", "pause")
    (entry,) = _entries(slot, PAUSE)
    assert entry.data["control"] == "c"
    assert entry.data["control_visitors"] == 3000


def test_a_pause_publishes_the_live_content_not_the_editors_draft_and_says_so():
    slot = _split()
    draft = slot.get_latest_revision_as_object()
    variants = list(draft.variants.all())
    variants[0].params = hero_params("Draft words, not reviewed yet")
    draft.variants = variants
    draft_revision = draft.save_revision()
    variant_days_create("hero", {"a": (4000, 200), "b": (4000, 100)}, days=1)

    assert [f.action for f in guardrails_check().findings] == ["pause"]

    slot = Slot.objects.get(key="hero")
    assert slot.variants.get(key="a").params[0].value["headline"] == "Headline a"
    (entry,) = _entries(slot, PAUSE)
    assert entry.data["draft_set_aside"] == draft_revision.pk


def test_an_editor_who_unpauses_the_variant_is_not_overruled_by_the_data_that_paused_it():
    slot = _split()
    variant_days_create("hero", {"a": (4000, 200), "b": (4000, 100)}, days=1)
    assert [f.action for f in guardrails_check().findings] == ["pause"]

    draft = Slot.objects.get(key="hero").get_latest_revision_as_object()
    variants = list(draft.variants.all())
    next(v for v in variants if v.key == "b").is_paused = False
    draft.variants = variants
    draft.save_revision().publish()

    assert guardrails_check().findings == []
    assert not _paused("hero", "b")
    assert len(_entries(slot, PAUSE)) == 1


def test_the_command_runs_the_job_and_prints_its_findings():
    import json
    from io import StringIO

    from django.core.management import call_command

    _split()
    variant_days_create("hero", {"a": (4000, 200), "b": (4000, 100)}, days=1)
    out = StringIO()
    call_command("guardrails", stdout=out)
    report = json.loads(out.getvalue())
    assert report["findings"] == [
        {"slot": "hero", "variant": "b", "metric": "click_rate", "group": "", "action": "pause"}
    ]


def test_a_goal_guardrail_pauses_a_variant_that_loses_the_goal_it_names():
    """Clicks equal, sign-ups halved: only a slot guarded on ``goal:signup`` sees the harm."""
    from django.utils import timezone

    from personalization.models import GoalDay
    from tracking.models import Goal

    Goal.objects.create(key="signup", name="Signed up", kind="page", match="/welcome/", live=True)
    slot = _split()
    draft = slot.get_latest_revision_as_object()
    draft.guardrail_metrics = ["click_rate", "goal:signup"]
    draft.save_revision().publish()
    variant_days_create("hero", {"a": (4000, 200), "b": (4000, 200)}, days=1)
    day = timezone.now().date()
    for variant, converted in (("a", 200), ("b", 100)):
        GoalDay.objects.create(
            slot_key="hero", variant_key=variant, day=day, goal="signup",
            conversions=converted, visitors_converted=converted, updated_at=timezone.now(),
        )  # fmt: skip

    report = guardrails_check()

    assert [(f.variant, f.metric, f.action) for f in report.findings] == [("b", "goal:signup", "pause")]
    assert report.tests == 2
    (entry,) = _entries(Slot.objects.get(key="hero"), PAUSE)
    assert entry.data["metric_name"] == "Goal: Signed up"
    assert entry.data["variant_rate"] == pytest.approx(0.025)


def test_a_guardrail_on_a_goal_deleted_since_is_skipped_not_fatal():
    slot = _split()
    draft = slot.get_latest_revision_as_object()
    draft.guardrail_metrics = ["click_rate", "goal:gone"]
    draft.save_revision().publish()
    variant_days_create("hero", {"a": (4000, 200), "b": (4000, 100)}, days=1)

    assert [(f.variant, f.metric) for f in guardrails_check().findings] == [("b", "click_rate")]
