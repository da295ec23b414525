"""Behaviour clusters end to end: visitors' recorded behaviour is clustered, an editor names a cluster, and the
segment made from it puts new visitors who behave alike into the right variant."""

from __future__ import annotations

import json
import random
import time
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from wagtail.models import ModelLogEntry

from personalization.behaviour.clustering import ClusteringError, visitors_active, visitors_cluster
from personalization.engine import Context
from personalization.engine.clustering import CentroidModel
from personalization.models import BehaviourCluster, ClusteringRun, Segment
from personalization.serving.segments import segment_spec_compile
from tests.factories.models import decision_row
from tests.factories.slots import segment_create, slot_create
from tests.factories.users import editor_client
from tracking.event_ingest import events_ingest
from tracking.feature_store import visitor_features_get
from tracking.models import DecisionLog, Visitor

pytestmark = pytest.mark.django_db

GROUPS = ("deal seekers", "readers", "buyers")
PER_GROUP = 12
INDEX_URL = "/admin/tailor/clusters/"


def behaviour(group: str, rng: random.Random, now_ms: int) -> list[dict]:
    """A visit's events, in the tracker's format, for a visitor of the given kind."""

    def event(kind: str, value: float | None = None, **props) -> dict:
        ts = now_ms - rng.randint(60, 1800) * 1000
        return {"id": str(uuid.uuid4()), "type": kind, "ts": ts, "value": value, "props": props}

    if group == "deal seekers":
        return [
            *[event("click", 1, deal=True) for _ in range(4)],
            event("click", 1),
            event("scroll", rng.uniform(25, 45)),
            event("dwell", rng.uniform(10, 25)),
        ]
    if group == "readers":
        return [
            event("click", 1),
            event("scroll", rng.uniform(85, 100)),
            event("scroll", rng.uniform(85, 100)),
            event("dwell", rng.uniform(120, 180)),
        ]
    return [
        event("click", 1),
        event("click", 1),
        event("conversion", 49.0),
        event("conversion", 19.0),
        event("scroll", rng.uniform(50, 60)),
        event("dwell", rng.uniform(50, 70)),
    ]


def ingest(visitor_id: str, events: list[dict], *, is_bot: bool = False) -> None:
    result = events_ingest(events, visitor_id=visitor_id, is_bot=is_bot)
    assert result.accepted == len(events), result.rejected


@pytest.fixture
def few_needed(settings):
    settings.TAILOR = {**settings.TAILOR, "CLUSTER_MIN_VISITORS": 10}


@pytest.fixture
def population(few_needed) -> dict[str, list[str]]:
    """36 visitors of three kinds, recorded through ingest; plus a bot and a visitor who did nothing."""
    rng = random.Random(11)
    now_ms = int(time.time() * 1000)
    groups: dict[str, list[str]] = {}
    for group in GROUPS:
        for _ in range(PER_GROUP):
            visitor_id = str(uuid.uuid4())
            ingest(visitor_id, behaviour(group, rng, now_ms))
            groups.setdefault(group, []).append(visitor_id)
    groups["bot"] = [str(uuid.uuid4())]
    ingest(groups["bot"][0], behaviour("deal seekers", rng, now_ms), is_bot=True)
    idle = Visitor.objects.create(last_seen_at=timezone.now())
    groups["idle"] = [str(idle.id)]
    return groups


def deal_cluster() -> BehaviourCluster:
    latest = ClusteringRun.objects.first()
    return next(c for c in latest.clusters.all() if c.distinctive[0]["feature"] == "deal_clicks_ratio")


# The service


def test_a_visitor_shown_decisions_as_a_crawler_is_left_out():
    # The decision's is_bot flag is the record of a crawler; its context's device says what the
    # request claimed (a headless crawler may send any), and is emptied by retention and erasure.
    now = timezone.now()
    human, crawler = uuid.uuid4(), uuid.uuid4()
    Visitor.objects.bulk_create([Visitor(id=v, last_seen_at=now) for v in (human, crawler)])
    DecisionLog.objects.bulk_create(
        decision_row(created_at=now, visitor_id=visitor, context={"device": "desktop"}, is_bot=is_bot)
        for visitor, is_bot in ((human, False), (crawler, True))
    )
    assert visitors_active(now - timedelta(hours=1)) == [str(human)]


def test_clusters_recorded_behaviour_into_the_planted_groups(population):
    report = visitors_cluster(seed=0)

    assert report.k == 3
    assert report.visitors == 3 * PER_GROUP  # the bot is left out entirely
    assert report.skipped == 1  # the visitor who did nothing has no behaviour to cluster
    assert sorted(c["size"] for c in report.clusters) == [PER_GROUP] * 3
    run = ClusteringRun.objects.get(pk=report.run_id)
    clusters = list(run.clusters.all())
    assert [c.index for c in clusters] == [0, 1, 2]
    texts = " | ".join(c.description for c in clusters)
    # Said with the features' labels, never their code names.
    assert "Share of clicks on deals (0–1) high" in texts
    assert "Average scroll depth (%) high" in texts
    assert "Conversions in the last 30 days high" in texts
    assert "deal_clicks_ratio" not in texts
    deal = deal_cluster()
    assert deal.distinctive[0]["text"].startswith("deal_clicks_ratio high (0.80 vs ")
    assert deal.share == pytest.approx(1 / 3)


def test_each_clustered_visitor_is_in_their_groups_cluster(population):
    visitors_cluster(seed=0)
    model = CentroidModel.from_dict(ClusteringRun.objects.first().centres)
    for group in GROUPS:
        placed = {model.nearest(visitor_features_get(v)) for v in population[group]}
        assert len(placed) == 1, group
    assert model.nearest(visitor_features_get(population["idle"][0])) is None


def test_a_new_run_replaces_unnamed_clusters_and_keeps_those_made_into_segments(population, admin_client):
    first = visitors_cluster(seed=0)
    admin_client.post(
        reverse("tailor_behaviour_cluster_segment", args=[deal_cluster().pk]),
        {f"cluster-{deal_cluster().pk}-name": "Deal seekers"},
    )
    kept = BehaviourCluster.objects.get(segment__key="deal-seekers")

    second = visitors_cluster(seed=1)

    assert (second.removed, second.kept) == (2, 1)
    assert set(BehaviourCluster.objects.values_list("run_id", flat=True)) == {first.run_id, second.run_id}
    assert BehaviourCluster.objects.filter(run_id=first.run_id).get() == kept
    assert BehaviourCluster.objects.filter(run_id=second.run_id).count() == 3
    # Once its segment is deleted, the old cluster goes with the next run, and so does its run.
    Segment.objects.get(key="deal-seekers").delete()
    visitors_cluster(seed=2)
    assert ClusteringRun.objects.count() == 1
    assert BehaviourCluster.objects.count() == 3


def test_too_few_visitors_changes_nothing(population, settings):
    visitors_cluster(seed=0)
    before = list(BehaviourCluster.objects.values_list("pk", flat=True))
    settings.TAILOR = {**settings.TAILOR, "CLUSTER_MIN_VISITORS": 100}
    with pytest.raises(ClusteringError, match=r"Only 36 visitors with behaviour"):
        visitors_cluster()
    assert list(BehaviourCluster.objects.values_list("pk", flat=True)) == before


def test_only_recently_active_visitors_are_clustered(population):
    rng = random.Random(12)
    two_days_ago = int((time.time() - 2 * 86400) * 1000)
    for _ in range(PER_GROUP):
        ingest(str(uuid.uuid4()), behaviour("deal seekers", rng, two_days_ago))
    assert visitors_cluster(active_within=timedelta(days=1)).visitors == 3 * PER_GROUP
    assert visitors_cluster(active_within=timedelta(days=3)).visitors == 4 * PER_GROUP
    with pytest.raises(ClusteringError, match=r"Only 0 visitors"):
        visitors_cluster(active_within=timedelta(seconds=1))


def test_command_reports_the_run_and_the_task_runs_on_its_own_queue(population, settings):
    out, err = StringIO(), StringIO()
    call_command("cluster_visitors", stdout=out, stderr=err)
    assert "36 visitors in 3 clusters" in out.getvalue()
    assert "Share of clicks on deals (0–1) high" in out.getvalue()

    out = StringIO()
    call_command("cluster_visitors", "--json", "--seed", "4", stdout=out)
    report = json.loads(out.getvalue())
    assert (report["k"], report["visitors"], report["removed"]) == (3, 36, 3)

    from personalization.tasks import visitors_cluster as task

    assert task.delay().get()["k"] == 3
    assert settings.CELERY_TASK_ROUTES["personalization.tasks.visitors_cluster"] == {"queue": "clustering"}
    beat = settings.CELERY_BEAT_SCHEDULE["personalization-visitors-cluster"]
    assert (beat["task"], beat["schedule"], beat["options"]["queue"]) == (
        "personalization.tasks.visitors_cluster",
        86400.0,
        "clustering",
    )


def test_command_and_task_say_when_there_is_too_little_to_cluster(few_needed):
    with pytest.raises(CommandError, match=r"No new clusters: Only 0 visitors"):
        call_command("cluster_visitors", stdout=StringIO(), stderr=StringIO())
    from personalization.tasks import visitors_cluster as task

    assert task.delay().get()["run"] is None


# The admin screen


def test_screen_lists_clusters_with_size_share_and_traits(population, admin_client):
    empty = admin_client.get(INDEX_URL)
    assert empty.status_code == 200
    assert "No clusters yet" in empty.content.decode()

    visitors_cluster(seed=0)
    page = admin_client.get(INDEX_URL)
    html = page.content.decode()
    assert page.status_code == 200
    assert "36 visitors" in html
    for label in ("Cluster 1", "Cluster 2", "Cluster 3"):
        assert label in html
    assert "Share of clicks on deals (0–1) high" in html
    assert "deal_clicks_ratio" not in html
    assert "33%" in html
    assert html.count("Create segment") == 3
    assert 'class="listing"' in html
    assert "Behaviour clusters" in admin_client.get("/admin/").content.decode()  # in the menu


def test_naming_a_cluster_makes_a_segment_that_decides_for_new_visitors(population, admin_client):
    visitors_cluster(seed=0)
    cluster = deal_cluster()
    response = admin_client.post(
        reverse("tailor_behaviour_cluster_segment", args=[cluster.pk]), {f"cluster-{cluster.pk}-name": "Deal seekers"}
    )
    assert response.status_code == 302

    segment = Segment.objects.get(key="deal-seekers")
    assert segment.name == "Deal seekers"
    assert BehaviourCluster.objects.get(pk=cluster.pk).segment == segment
    entry = ModelLogEntry.objects.get(action="tailor.segment.from_cluster", object_id=str(segment.pk))
    assert entry.user.is_superuser
    edit_url = reverse("wagtailsnippets_personalization_segment:edit", args=[segment.pk])
    page = admin_client.get(INDEX_URL).content.decode()
    assert edit_url in page  # the message's button and the cluster's row both link to the segment
    assert page.count("Create segment") == 2
    edit = admin_client.get(edit_url)
    assert edit.status_code == 200
    assert "Behaviour cluster (learned)" in edit.content.decode()

    # Every clustered deal seeker is in it, nobody else.
    spec = segment_spec_compile(segment)
    for group in GROUPS:
        expected = group == "deal seekers"
        assert all(
            spec.matches(Context.from_mapping({"features": visitor_features_get(v)})) is expected
            for v in population[group]
        )

    # A slot targets it, and visitors who arrive after the clustering are placed by what they do.
    slot_create(
        "deal-hero",
        strategy="rules",
        variants=[("standard", 1), ("deals", 1)],
        default="standard",
        rules=[("deal-seekers", "deals")],
        segments={"deal-seekers": segment},
    )
    rng = random.Random(3)
    for group, variant in (("deal seekers", "deals"), ("readers", "standard"), ("buyers", "standard")):
        client = Client()
        headers = {"HTTP_X_TAILOR_VISITOR": str(uuid.uuid4())}

        def decide(client=client, headers=headers) -> dict:
            body = json.dumps({"slots": ["deal-hero"]})
            answer = client.post("/api/v1/decisions/", body, content_type="application/json", **headers)
            return answer.json()["decisions"][0]

        assert decide()["variant"]["key"] == "standard"  # no behaviour yet: in no cluster
        events = behaviour(group, rng, int(time.time() * 1000))
        posted = client.post(
            "/api/v1/events/", json.dumps({"events": events}), content_type="application/json", **headers
        )
        assert posted.json()["accepted"] == len(events)
        after = decide()
        assert (after["variant"]["key"], after["policy"]) == (variant, "rules"), group


def test_the_segment_survives_being_saved_in_the_segment_editor(population, admin_client):
    visitors_cluster(seed=0)
    cluster = deal_cluster()
    admin_client.post(
        reverse("tailor_behaviour_cluster_segment", args=[cluster.pk]), {f"cluster-{cluster.pk}-name": "Deal seekers"}
    )
    segment = Segment.objects.get(key="deal-seekers")
    block = segment.rules[0]
    edit_url = reverse("wagtailsnippets_personalization_segment:edit", args=[segment.pk])
    form = {
        "name": "Bargain hunters",
        "key": "deal-seekers",
        "description": segment.description,
        "match": "all",
        "is_active": "on",
        "rules-count": "1",
        "rules-0-type": "cluster",
        "rules-0-deleted": "",
        "rules-0-order": "0",
        "rules-0-id": block.id,
        "rules-0-value-summary": block.value["summary"],
        "rules-0-value-cluster": str(block.value["cluster"] + 1),  # numbered from 1, as the screen says
        "action-publish": "1",
        # What the hidden input holds: the block's own form state.
        "rules-0-value-centres": json.dumps(block.value["centres"]),
    }
    assert admin_client.post(edit_url, form).status_code == 302
    segment.refresh_from_db()
    assert segment.name == "Bargain hunters"
    assert segment.rules[0].value["centres"] == cluster.run.centres
    deal_seeker = population["deal seekers"][0]
    assert segment_spec_compile(segment).matches(Context.from_mapping({"features": visitor_features_get(deal_seeker)}))

    # A cluster rule added by hand (no centres) or pointing past the run's clusters is refused with a reason.
    for centres, cluster_index, reason in (
        ("", "1", "not by hand"),
        (form["rules-0-value-centres"], "7", "There is no Cluster 7: that clustering found Clusters 1 to 3."),
    ):
        response = admin_client.post(
            edit_url, {**form, "rules-0-value-centres": centres, "rules-0-value-cluster": cluster_index}
        )
        assert response.status_code == 200
        assert reason in response.content.decode()
    segment.refresh_from_db()
    assert segment.name == "Bargain hunters"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        pytest.param({"name": ""}, "name", "Give the segment a name", id="blank"),
        pytest.param({"name": "   "}, "name", "Give the segment a name", id="spaces"),
        pytest.param(
            {"name": "newsletter traffic"}, "name", "A segment with this name already exists", id="taken-name"
        ),
        pytest.param({"name": "Newsletter"}, "__all__", "key “newsletter” already exists", id="taken-key"),
        pytest.param(
            {"name": "Deals", "key": "newsletter"}, "key", "“newsletter” already exists", id="taken-given-key"
        ),
        pytest.param({"name": "!!!"}, "key", "no letters or digits", id="no-key-from-name"),
        pytest.param({"name": "Deals", "key": "Not a slug!"}, "key", "lowercase letters", id="bad-key"),
        pytest.param({"name": "x" * 256}, "name", "at most 255 characters", id="too-long"),
    ],
)
def test_bad_names_are_form_errors_not_segments(population, admin_client, data, field, message):
    segment_create("newsletter", [{"type": "utm", "value": {"param": "source", "value": "newsletter"}}])
    Segment.objects.filter(key="newsletter").update(name="Newsletter traffic")
    visitors_cluster(seed=0)
    cluster = deal_cluster()
    response = admin_client.post(
        reverse("tailor_behaviour_cluster_segment", args=[cluster.pk]),
        {f"cluster-{cluster.pk}-{k}": v for k, v in data.items()},
    )
    assert response.status_code == 200
    form = next(row["form"] for row in response.context["rows"] if row["cluster"].pk == cluster.pk)
    assert message in " ".join(form.errors[field])
    assert message in response.content.decode()
    assert Segment.objects.count() == 1
    assert BehaviourCluster.objects.get(pk=cluster.pk).segment is None


def test_names_are_escaped_and_a_cluster_becomes_one_segment_only(population, admin_client):
    visitors_cluster(seed=0)
    cluster = deal_cluster()
    url = reverse("tailor_behaviour_cluster_segment", args=[cluster.pk])
    hostile = "<script>alert(1)</script>"
    response = admin_client.post(url, {f"cluster-{cluster.pk}-name": hostile}, follow=True)
    html = response.content.decode()
    assert hostile not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert Segment.objects.get(key="scriptalert1script").name == hostile

    again = admin_client.post(url, {f"cluster-{cluster.pk}-name": "Another"}, follow=True)
    assert "is already the segment" in again.content.decode()
    assert Segment.objects.count() == 1


def test_a_replaced_cluster_answers_with_a_message_not_an_error(population, admin_client):
    visitors_cluster(seed=0)
    cluster = deal_cluster()
    visitors_cluster(seed=1)
    response = admin_client.post(
        reverse("tailor_behaviour_cluster_segment", args=[cluster.pk]),
        {f"cluster-{cluster.pk}-name": "Deals"},
        follow=True,
    )
    assert response.status_code == 200
    assert "a newer clustering replaced it" in response.content.decode()
    assert not Segment.objects.exists()
    assert admin_client.get(reverse("tailor_behaviour_cluster_segment", args=[cluster.pk])).status_code == 405


def test_permissions(population, django_user_model):
    visitors_cluster(seed=0)
    cluster = deal_cluster()
    url = reverse("tailor_behaviour_cluster_segment", args=[cluster.pk])
    data = {f"cluster-{cluster.pk}-name": "Deal seekers"}

    nobody = editor_client(django_user_model, "nobody")
    assert nobody.get(INDEX_URL).url == reverse("wagtailadmin_home")
    assert nobody.post(url, data).url == reverse("wagtailadmin_home")
    assert "Behaviour clusters" not in nobody.get("/admin/").content.decode()

    reader = editor_client(django_user_model, "reader", "view_segment")
    page = reader.get(INDEX_URL)
    assert page.status_code == 200
    assert "Share of clicks on deals (0–1) high" in page.content.decode()
    assert "Create segment" not in page.content.decode()
    assert reader.post(url, data).url == reverse("wagtailadmin_home")
    assert not Segment.objects.exists()

    author = editor_client(django_user_model, "author", "add_segment", "change_segment")
    assert author.post(url, data).status_code == 302
    assert Segment.objects.get(key="deal-seekers").name == "Deal seekers"

    anonymous = Client().get(INDEX_URL)
    assert anonymous.status_code == 302
    assert "/login/" in anonymous.url


def test_a_segment_from_a_cluster_numbers_it_as_the_screen_does_and_its_rule_reads_as_written(population, admin_client):
    visitors_cluster(seed=0)
    cluster = deal_cluster()
    admin_client.post(
        reverse("tailor_behaviour_cluster_segment", args=[cluster.pk]), {f"cluster-{cluster.pk}-name": "Deal seekers"}
    )
    segment = Segment.objects.get(key="deal-seekers")
    label = cluster.label  # "Cluster N", N from 1
    number = int(label.split()[1])
    assert f"nearest to {label} of the behaviour clustering" in segment.description
    assert "Share of clicks on deals (0–1) high" in segment.description
    assert "deal_clicks_ratio" not in segment.description

    # The rule's number field shows the same N (stored as the engine's index from 0) and is read-only, as is the
    # summary; the centres' label stands above a sentence, not an empty space.
    rule = Segment._meta.get_field("rules").stream_block.child_blocks["cluster"]
    stored = segment.rules[0].value
    assert stored["cluster"] == cluster.index == number - 1
    assert rule.child_blocks["cluster"].get_form_state(stored["cluster"]) == str(number)
    assert "Share of clicks on deals (0–1) high" in stored["summary"]
    for name in ("summary", "cluster"):
        assert rule.child_blocks[name].field.widget.attrs.get("readonly")
    page = admin_client.get(reverse("wagtailsnippets_personalization_segment:edit", args=[segment.pk]))
    html = page.content.decode()
    assert "Learned centres" in html
    assert "on Behaviour clusters; not editable." in html  # inside the block's JSON definition
    assert "Which cluster of the clustering (Cluster 1 is the largest)" in html
