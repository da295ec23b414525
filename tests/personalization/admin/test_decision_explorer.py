"""The decision explorer: a pasted decision or visitor id shows what was shown, when and why; bad input is a
form error; hostile text is escaped; only editors who may view slots get in."""

from __future__ import annotations

import json
import uuid
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories.models import decision_row, model_slot_trained
from tests.factories.slots import segment_create, slot_create
from tests.factories.users import permitted_client
from tracking.models import DecisionLog

pytestmark = pytest.mark.django_db

HOSTILE = '<script>alert("x")</script>'


@pytest.fixture
def viewer(django_user_model):
    return permitted_client(django_user_model, "viewer", "content.view_slot")


def explore(client: Client, q: str | None = None):
    url = reverse("tailor_decision_explorer")
    return client.get(url if q is None else f"{url}?q={quote(q)}")


def decide(slot: str, visitor: str, context: dict) -> dict:
    body = {"slots": [slot], "context": context, "visitor_id": visitor}
    response = Client().post("/api/v1/decisions/", data=json.dumps(body), content_type="application/json")
    return response.json()["decisions"][0]


@pytest.fixture
def ruled():
    phones = segment_create("on-phones", [{"type": "device", "value": {"devices": ["mobile"]}}])
    slot_create("ruled-hero", strategy="rules", rules=[("on-phones", "b")], segments={"on-phones": phones})


def test_a_decision_id_shows_what_was_shown_and_why(viewer, ruled):
    visitor = str(uuid.uuid4())
    decision = decide("ruled-hero", visitor, {"device": "mobile"})

    page = explore(viewer, decision["decision_id"])
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-decision="{decision["decision_id"]}"' in html
    assert "Ruled-Hero" in html
    assert "<code data-variant>b</code>" in html
    assert "the segment “On Phones”" in html
    assert 'class="w-status w-status--primary"' in html  # Wagtail's own status tag
    assert f"?q={visitor.replace('-', '')}" in html  # on to the visitor's other decisions


def test_a_visitor_id_lists_their_decisions_newest_first(viewer, ruled):
    slot_create("split-hero", strategy="split")
    visitor = str(uuid.uuid4())
    first = decide("ruled-hero", visitor, {"device": "desktop"})
    second = decide("split-hero", visitor, {})
    decide("split-hero", str(uuid.uuid4()), {})  # someone else's

    html = explore(viewer, visitor.upper()).content.decode()
    listed = [part.split('"')[0] for part in html.split('data-decision="')[1:]]
    assert listed == [second["decision_id"], first["decision_id"]]
    assert "matched none of the slot&#x27;s rules" in html
    assert "Traffic split" in html


def test_a_model_decision_shows_its_top_features(viewer):
    model_slot_trained()
    # The model's own choice (b), not a visitor the exploration sent elsewhere (sticky, about 1 in 15).
    decision = next(
        d
        for d in (decide("explained-hero", str(uuid.uuid4()), {"device": "mobile", "hour": 20}) for _ in range(30))
        if d["variant"]["key"] == "b"
    )

    html = explore(viewer, decision["decision_id"]).content.decode()
    assert "data-why-features" in html
    # The model learned that mobile visitors click "b": the device pushed it up, against the other variants.
    assert 'data-feature="device" data-direction="up"' in html
    assert "<strong>Device</strong>: mobile" in html
    assert "log-odds" in html


def test_a_model_version_deleted_since_is_said_not_a_500(viewer):
    version = model_slot_trained()
    decision = decide("explained-hero", str(uuid.uuid4()), {"device": "mobile"})
    DecisionLog.objects.filter(id=uuid.UUID(decision["decision_id"])).update(policy_version=str(version.pk + 99))

    page = explore(viewer, decision["decision_id"])
    assert page.status_code == 200
    assert f"Model #{version.pk + 99} is no longer stored" in page.content.decode()


@pytest.mark.parametrize(
    "q", ["not-an-id", "12345", HOSTILE, "' OR 1=1 --", "ä" * 40, "0" * 31, "x" * 500, "\x00", " "]
)
def test_bad_input_is_a_form_error_never_a_500(viewer, q):
    page = explore(viewer, q)
    assert page.status_code == 200
    html = page.content.decode()
    assert "error-message" in html or "This field is required" in html
    assert HOSTILE not in html
    assert "data-decisions" not in html


def test_an_unknown_id_says_so(viewer):
    html = explore(viewer, str(uuid.uuid4())).content.decode()
    assert "No decision and no visitor has this id" in html


def test_the_empty_page_explains_what_to_paste(viewer):
    page = explore(viewer)
    assert page.status_code == 200
    assert "data-tailor-decision" in page.content.decode()


def test_hostile_names_and_keys_are_escaped(viewer):
    slot = slot_create("ruled-hero", strategy="fixed")
    slot.name = HOSTILE
    slot.save()
    decision = decide("ruled-hero", str(uuid.uuid4()), {})
    DecisionLog.objects.filter(id=uuid.UUID(decision["decision_id"])).update(
        variant_key=HOSTILE[:64], policy=HOSTILE[:32], reason=HOSTILE
    )

    html = explore(viewer, decision["decision_id"]).content.decode()
    assert HOSTILE not in html
    assert "&lt;script&gt;" in html


def test_only_editors_who_may_view_slots_get_in(django_user_model, client):
    plain = permitted_client(django_user_model, "plain")
    assert explore(plain).status_code in (302, 403)
    assert "tailor/decisions/" not in plain.get("/admin/").content.decode()
    editor = permitted_client(django_user_model, "editor", "content.change_slot")
    assert explore(editor).status_code == 200
    assert "tailor/decisions/" in editor.get("/admin/").content.decode()
    assert explore(client).status_code == 302  # not logged in: to the login page


def test_a_visitors_decisions_page_back_to_the_first_one_each_listed_once(viewer, ruled, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    import personalization.admin.decisions as explorer

    monkeypatch.setattr(explorer, "LIMIT", 3)
    visitor = uuid.uuid4()
    start = timezone.now() - timedelta(hours=1)
    # Seven decisions; three share one timestamp, so paging must also order by id.
    times = [
        start,
        start + timedelta(seconds=1),
        *[start + timedelta(seconds=2)] * 3,
        *(start + timedelta(seconds=s) for s in (3, 4)),
    ]
    logged = [decision_row(created_at=at, visitor_id=visitor, slot_key="ruled-hero", policy="rules") for at in times]
    DecisionLog.objects.bulk_create(logged)
    expected = [d.id.hex for d in sorted(logged, key=lambda d: (d.created_at, d.id.hex), reverse=True)]

    url, listed, pages = f"{reverse('tailor_decision_explorer')}?q={visitor.hex}", [], []
    while url:
        html = viewer.get(url).content.decode()
        pages.append(html)
        listed += [part.split('"')[0] for part in html.split('data-decision="')[1:]]
        older = html.split("data-older", 1)[0].rsplit('href="', 1)[-1].split('"')[0] if "data-older" in html else ""
        url = reverse("tailor_decision_explorer") + older.replace("&amp;", "&") if older else ""
    assert listed == expected
    assert len(pages) == 3
    assert "the latest 3 decisions" in pages[0]
    assert "data-latest" not in pages[0]
    assert "3 older decisions" in pages[1]
    assert "1 older decision" in pages[2]
    assert "data-latest" in pages[2]
    assert "data-older" not in pages[2]


@pytest.mark.parametrize("before", ["not-an-id", "'; drop table x; --", "\x00", "1" * 101])
def test_a_bad_page_link_is_a_form_error_never_a_500(viewer, ruled, before):
    visitor = str(uuid.uuid4())
    decide("ruled-hero", visitor, {"device": "desktop"})
    url = f"{reverse('tailor_decision_explorer')}?q={visitor}&before={quote(before)}"
    page = viewer.get(url)
    assert page.status_code == 200
    assert "data-before-error" in page.content.decode()
    assert "data-decision=" not in page.content.decode()


def test_a_page_link_for_someone_elses_decision_lists_from_the_latest(viewer, ruled):
    visitor, other = str(uuid.uuid4()), str(uuid.uuid4())
    mine = decide("ruled-hero", visitor, {"device": "desktop"})
    theirs = decide("ruled-hero", other, {"device": "desktop"})
    html = viewer.get(
        f"{reverse('tailor_decision_explorer')}?q={visitor}&before={theirs['decision_id']}"
    ).content.decode()
    assert f'data-decision="{mine["decision_id"]}"' in html
    assert f'data-decision="{theirs["decision_id"]}"' not in html
