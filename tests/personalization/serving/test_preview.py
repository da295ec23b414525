"""Previewing a page from Wagtail's admin as a segment, a context or a sampled visitor; nothing is recorded.

Through Wagtail's own preview view (a revision's preview: the same ``make_preview_request`` as the panel's),
with an editor's session; the panel's control puts its choice in that view's query.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from personalization.serving import render_counts
from personalization.serving.preview import PreviewChoice, preview_choice_parse
from tests.conftest import DESKTOP
from tracking.models import Consent, DecisionLog
from tracking.visitors import visitor_id_new

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor(client, demo):
    client.login(username=demo.username, password=demo.password)
    return client


@pytest.fixture
def home():
    from demo.models import HomePage

    return HomePage.objects.get()


def preview(client, page, **choice) -> str:
    url = reverse("wagtailadmin_pages:revisions_view", args=[page.pk, page.latest_revision.pk])
    response = client.get(url, {f"tailor_{k}": v for k, v in choice.items()}, HTTP_USER_AGENT=DESKTOP)
    assert response.status_code == 200
    return response.content.decode()


def hero(html: str) -> str:
    match = re.search(r'data-tailor-slot="home-hero" data-tailor-variant="([^"]+)"', html)
    assert match, html
    return match.group(1)


def test_a_preview_as_a_segment_shows_that_segments_variant(editor, home):
    assert hero(preview(editor, home)) == "hero-default"
    assert hero(preview(editor, home, segment="newsletter-traffic")) == "hero-newsletter"
    assert hero(preview(editor, home, segment="mobile-visitors")) == "hero-mobile"
    assert hero(preview(editor, home, segment="returning-visitors")) == "hero-welcome-back"


def test_the_preview_device_follows_the_preview_size_unless_the_editor_picked_one(editor, home):
    # Wagtail's mobile size is 375 px wide: the editor's desktop browser must not make it a desktop visit.
    assert hero(preview(editor, home, width=375)) == "hero-mobile"
    assert hero(preview(editor, home, width=768)) == "hero-mobile"  # the demo's mobile segment takes tablets
    assert hero(preview(editor, home, width=1280)) == "hero-default"
    assert hero(preview(editor, home, width=375, device="desktop")) == "hero-default"
    assert hero(preview(editor, home, width=1280, device="mobile")) == "hero-mobile"


def test_a_preview_as_a_context(editor, home):
    assert hero(preview(editor, home, utm_source="newsletter")) == "hero-newsletter"
    assert hero(preview(editor, home, utm_source="ads")) == "hero-default"
    html = preview(editor, home, country="fr", hour=7, logged_in=1)
    assert hero(html) == "hero-default"


def _logged(visitor_id: str, context: dict, policy: str = "rules") -> None:
    DecisionLog.objects.create(
        id=uuid.uuid4(),
        created_at=timezone.now() - timedelta(minutes=5),
        visitor_id=visitor_id,
        slot_key="home-hero",
        variant_key="hero-default",
        policy=policy,
        policy_version="1",
        propensity=1.0,
        context=context,
    )


def test_a_preview_as_a_sampled_visitor_uses_their_last_context(editor, home):
    phone, withdrawn = visitor_id_new(), visitor_id_new()
    _logged(phone, {"device": "mobile", "country": "GB", "visit_count": 1})
    _logged(withdrawn, {"device": "mobile", "visit_count": 1})
    Consent.objects.create(visitor_id=withdrawn, analytics=True, personalization=False)
    before = DecisionLog.objects.count()

    assert hero(preview(editor, home, visitor=phone)) == "hero-mobile"
    # Their device, unless the editor picks one.
    assert hero(preview(editor, home, visitor=phone, device="desktop")) == "hero-default"
    # A visitor who withdrew consent is not previewed as: a new visitor's view instead.
    assert hero(preview(editor, home, visitor=withdrawn)) == "hero-default"
    assert DecisionLog.objects.count() == before

    options = editor.get(reverse("tailor_preview_options")).json()
    assert [v["id"] for v in options["visitors"]] == [phone]
    assert options["visitors"][0]["label"].startswith(f"Visitor {phone[:8]} · mobile · GB")
    assert {s["key"] for s in options["segments"]} == {"mobile-visitors", "newsletter-traffic", "returning-visitors"}


def test_a_preview_records_nothing_and_counts_nothing(editor, home, settings):
    settings.TAILOR = {**settings.TAILOR, "RENDER_COUNTS_FLUSH_SECONDS": 0}  # a counted render reaches the cache
    render_counts.render_counts_flush()
    day = timezone.now().date()
    variants = ("hero-default", "hero-newsletter", "hero-mobile")

    def renders() -> list:
        # Read as a difference: on Redis the counts outlive a test (other tests render the demo's hero too).
        return [cache.get(render_counts.counts_key(day, "home-hero", v, "renders")) for v in variants]

    counted = renders()
    editor.cookies["tailor_vid"] = visitor_id_new()  # the editor's own visitor id: the preview is not them
    for choice in ({}, {"segment": "newsletter-traffic"}, {"width": 375}, {"utm_source": "newsletter"}):
        html = preview(editor, home, **choice)
        assert "data-tailor-decision" in html
        assert "tracking/tracker" not in html  # no tracker: the preview sends no events and asks for no decision
    render_counts.render_counts_flush()
    assert DecisionLog.objects.count() == 0
    assert renders() == counted


def test_a_visit_is_still_recorded_and_unchanged_by_a_preview_choice(client, demo):
    # The preview parameters mean nothing to the site itself: a visitor cannot pick their segment.
    html = client.get("/", {"tailor_segment": "newsletter-traffic", "tailor_width": "375"}, HTTP_USER_AGENT=DESKTOP)
    assert hero(html.content.decode()) == "hero-default"
    assert DecisionLog.objects.filter(slot_key="home-hero").count() == 1


def test_preview_choices_are_checked_field_by_field(demo):
    from django.http import QueryDict

    choice, errors = preview_choice_parse(
        QueryDict("tailor_segment=nope&tailor_hour=25&tailor_country=France&tailor_device=fridge&tailor_width=375")
    )
    assert choice == PreviewChoice(width=375)
    assert set(errors) == {"tailor_segment", "tailor_hour", "tailor_country", "tailor_device"}
    assert "0 to 23" in errors["tailor_hour"]
    choice, errors = preview_choice_parse(QueryDict("tailor_segment=mobile-visitors&tailor_hour=0&tailor_logged_in=0"))
    assert (choice.segment, choice.hour, choice.logged_in, errors) == ("mobile-visitors", 0, False, {})
