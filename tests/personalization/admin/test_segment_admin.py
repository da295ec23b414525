"""The Segments screens: an edit is a draft until published (serving reads the published version only), the
Active column is a tick, and each segment says how many recent visitors it reaches."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.utils import timezone

from personalization.engine import Context
from personalization.models import Segment
from personalization.serving.catalog import catalog_get
from tests.factories.experiments import form_errors
from tests.factories.slots import segment_create, slot_create
from tracking.models import DecisionLog

pytestmark = pytest.mark.django_db

URL = "/admin/snippets/personalization/segment/"
NEWSLETTER = Context.from_mapping({"utm_source": "newsletter"})
PARTNER = Context.from_mapping({"utm_source": "partner"})


def utm_rule(value: str) -> list[dict]:
    return [{"type": "utm", "value": {"param": "source", "operator": "equals", "value": value}}]


def form(segment: Segment, source: str, **extra: str) -> dict:
    return {
        "name": segment.name,
        "key": segment.key,
        "description": "",
        "match": "all",
        "is_active": "on",
        "rules-count": "1",
        "rules-0-type": "utm",
        "rules-0-deleted": "",
        "rules-0-order": "0",
        "rules-0-id": str(uuid.uuid4()),
        "rules-0-value-param": "source",
        "rules-0-value-operator": "equals",
        "rules-0-value-value": source,
        **extra,
    }


def decisions_logged(sources: list[str], *, days_ago: float = 1.0) -> None:
    """One visitor per source, each with two decisions (two slots on a page); the latest says the source."""
    at = timezone.now() - timedelta(days=days_ago)
    rows = []
    for source in sources:
        visitor = uuid.uuid4()
        for slot, offset in (("hero", 0), ("offer", 1)):
            context = {"device": "desktop", **({"utm": {"source": source}} if source else {})}
            rows.append(
                DecisionLog(
                    id=uuid.uuid4(),
                    created_at=at + timedelta(seconds=offset),
                    visitor_id=visitor,
                    slot_key=slot,
                    variant_key="a",
                    policy="fixed",
                    policy_version="",
                    propensity=1.0,
                    context=context,
                )
            )
    DecisionLog.objects.bulk_create(rows)


@pytest.fixture
def newsletter(db) -> Segment:
    return segment_create("newsletter", utm_rule("newsletter"))


def served_to_newsletter_readers(client: Client) -> str:
    body = json.dumps({"slots": ["hero"], "context": {"utm_source": "newsletter"}})
    answer = client.post(
        "/api/v1/decisions/", body, content_type="application/json", HTTP_X_TAILOR_VISITOR=str(uuid.uuid4())
    )
    return answer.json()["decisions"][0]["variant"]["key"]


def test_an_edit_is_a_draft_that_serving_ignores_until_published(admin_client, client, newsletter):
    slot_create("hero", strategy="rules", default="a", rules=[("newsletter", "b")], segments={"newsletter": newsletter})
    assert catalog_get().segments[newsletter.pk].matches(NEWSLETTER)

    response = admin_client.post(f"{URL}edit/{newsletter.pk}/", form(newsletter, "partner"))
    assert response.status_code == 302, form_errors(response)
    newsletter.refresh_from_db()
    assert newsletter.has_unpublished_changes
    spec = catalog_get().segments[newsletter.pk]
    assert spec.matches(NEWSLETTER)
    assert not spec.matches(PARTNER)
    assert served_to_newsletter_readers(client) == "b"

    response = admin_client.post(f"{URL}edit/{newsletter.pk}/", form(newsletter, "partner", **{"action-publish": "1"}))
    assert response.status_code == 302, form_errors(response)
    spec = catalog_get().segments[newsletter.pk]
    assert spec.matches(PARTNER)
    assert not spec.matches(NEWSLETTER)
    assert served_to_newsletter_readers(client) == "a"
    newsletter.refresh_from_db()
    assert (newsletter.live, newsletter.has_unpublished_changes) == (True, False)
    assert newsletter.live_revision is not None
    assert newsletter.live_revision.user.is_superuser


def test_a_segment_added_as_a_draft_matches_nobody_until_published(admin_client):
    draft = Segment(key="partners", name="Partners")
    response = admin_client.post(f"{URL}add/", form(draft, "partner"))
    assert response.status_code == 302, form_errors(response)
    segment = Segment.objects.get(key="partners")
    assert (segment.live, segment.status_string) == (False, "draft")
    assert not catalog_get().segments[segment.pk].matches(PARTNER)

    admin_client.post(f"{URL}edit/{segment.pk}/", form(segment, "partner", **{"action-publish": "1"}))
    assert catalog_get().segments[segment.pk].matches(PARTNER)


def test_the_listing_ticks_active_segments_and_says_each_ones_reach(admin_client, newsletter):
    segment_create("partners", utm_rule("partner"))
    Segment.objects.filter(key="partners").update(is_active=False)
    decisions_logged(["newsletter"] * 3 + ["partner"] * 2 + [""] * 5)
    decisions_logged(["newsletter"] * 4, days_ago=9)  # before the window

    html = admin_client.get(URL).content.decode()
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "True" not in text
    assert "False" not in text
    assert re.search(r"Newsletter .* active .* Partners .* inactive", text)
    assert "about 3 of 10 recent visitors (30 %)" in text
    assert "about 0 of 10 recent visitors (0 %)" in text  # inactive: matches nobody
    assert "Live" in text  # the status column


def test_the_edit_screen_estimates_the_drafts_reach(admin_client, newsletter):
    decisions_logged(["newsletter"] * 3 + ["partner"] * 1)
    page = admin_client.get(f"{URL}edit/{newsletter.pk}/").content.decode()
    assert "reaches about 3 of 4 recent visitors (75 %)" in re.sub(r"\s+", " ", page)

    admin_client.post(f"{URL}edit/{newsletter.pk}/", form(newsletter, "partner"))  # a draft
    page = admin_client.get(f"{URL}edit/{newsletter.pk}/").content.decode()
    assert "reaches about 1 of 4 recent visitors (25 %)" in re.sub(r"\s+", " ", page)
    listing = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", admin_client.get(URL).content.decode()))
    assert "about 3 of 4 recent visitors (75 %)" in listing  # the listing says what is live


def test_a_full_sample_is_scaled_to_the_visitors_seen(admin_client, newsletter, settings):
    from tracking.models import Visitor

    settings.TAILOR = {**settings.TAILOR, "SEGMENT_REACH_SAMPLE": 4}
    decisions_logged(["newsletter", "partner"] * 5)
    Visitor.objects.bulk_create([Visitor(last_seen_at=timezone.now()) for _ in range(20)])
    page = re.sub(r"\s+", " ", admin_client.get(f"{URL}edit/{newsletter.pk}/").content.decode())
    assert "reaches about 10 of 20 recent visitors (50 %)" in page
    assert "latest decision of 4 visitors" in page


def test_the_migration_keeps_segments_live_and_lets_their_editors_publish():
    # It grants publish_segment to every group that held change_segment.
    from django.apps import apps as global_apps
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    group = Group.objects.create(name="Segment editors")
    group.permissions.add(Permission.objects.get(codename="change_segment"))
    migration = MigrationExecutor(connection).loader.get_migration("personalization", "0010_segment_drafts")
    grant = next(op for op in migration.operations if hasattr(op, "code")).code
    grant(global_apps, None)
    assert group.permissions.filter(codename="publish_segment").exists()
    # Existing rows get the added column's default: every segment is live, so serving does not change on migrate.
    (live,) = [op for op in migration.operations if getattr(op, "name", "") == "live"]
    assert live.field.default is True
