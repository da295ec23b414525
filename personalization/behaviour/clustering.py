"""Behaviour clusters of recently active visitors, and segments made from them.

``visitors_cluster`` reads the real-time features of visitors active lately
(bots left out), lets the engine find clusters, and stores the run: its
clusters replace those of earlier runs, except clusters an editor turned into
a segment. ``cluster_segment_create`` turns a cluster into a ``Segment`` with
one *behaviour cluster* rule that carries the run's scaling and centres, so
the segment places new visitors by their live features, through the same
rule mechanism as every other segment.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from wagtail.log_actions import log

from personalization.behaviour.wording import distinctions_words
from personalization.conf import setting
from personalization.engine.clustering import CentroidModel, ClusteringError, clusters_fit
from personalization.models import BehaviourCluster, ClusteringRun, Segment
from tracking.feature_store import visitors_features_get
from tracking.features import FEATURE_NAMES
from tracking.models import DecisionLog, Event, Visitor

logger = logging.getLogger(__name__)

BATCH = 2000
# Centres closer than this (in standard deviations, over all features) describe the same group of visitors.
RESEMBLANCE_DISTANCE = 1.0

__all__ = [
    "ClusterSegmentError",
    "ClusteringError",
    "ClusteringReport",
    "cluster_segment_create",
    "clusters_overview",
    "visitors_active",
    "visitors_cluster",
]


class ClusterSegmentError(ValueError):
    """The cluster cannot be turned into a segment (already done, or the name or key is taken)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class ClusteringReport:
    run_id: int
    visitors: int
    skipped: int
    k: int
    silhouette: float
    scores: dict[int, float]
    clusters: list[dict[str, Any]] = field(default_factory=list)
    removed: int = 0  # clusters of earlier runs replaced by this one
    kept: int = 0  # clusters of earlier runs kept because a segment was made from them


def visitors_active(since: Any) -> list[str]:
    """Ids of visitors seen or acting since then, without those who showed up as bots; sorted."""
    seen = set(Visitor.objects.filter(last_seen_at__gte=since).values_list("id", flat=True).iterator())
    acted = set(
        Event.objects.filter(ts__gte=since, is_bot=False).order_by().values_list("visitor_id", flat=True).distinct()
    )
    bots = set(
        Event.objects.filter(ts__gte=since, is_bot=True).order_by().values_list("visitor_id", flat=True).distinct()
    )
    bots |= set(
        DecisionLog.objects.filter(created_at__gte=since, is_bot=True)
        .exclude(visitor_id=None)
        .order_by()
        .values_list("visitor_id", flat=True)
        .distinct()
    )
    return sorted(str(v) for v in (seen | acted) - bots)


def visitors_cluster(
    *,
    active_within: timedelta | None = None,
    max_visitors: int | None = None,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> ClusteringReport:
    """Cluster recently active visitors on their features and store the run; raises ``ClusteringError`` if too few.

    When there are too few visitors nothing changes: the previous clusters stay.
    """
    active_within = active_within or timedelta(hours=setting("CLUSTER_ACTIVE_HOURS"))
    max_visitors = max_visitors or setting("CLUSTER_MAX_VISITORS")
    k_min, k_max = setting("CLUSTER_K_RANGE")
    now = timezone.now()
    since = now - active_within
    ids = visitors_active(since)
    if len(ids) > max_visitors:
        ids = sorted(random.Random(seed).sample(ids, max_visitors))  # noqa: S311 - a sample, not a secret
    rows = []
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        features = visitors_features_get(batch, now.timestamp())
        rows.extend(features[v] for v in batch)
        if progress:
            progress(len(rows), len(ids))
    with_behaviour = sum(1 for row in rows if any(value is not None for value in row.values()))
    minimum = setting("CLUSTER_MIN_VISITORS")
    if with_behaviour < minimum:
        raise ClusteringError(
            f"Only {with_behaviour} visitors with behaviour in the last {active_within}; need at least {minimum}."
        )
    clustering = clusters_fit(rows, FEATURE_NAMES, k_min=k_min, k_max=k_max, seed=seed)
    with transaction.atomic():
        run = ClusteringRun.objects.create(
            active_since=since,
            visitors=clustering.visitors,
            k=clustering.k,
            silhouette=clustering.silhouette,
            scores={str(k): v for k, v in clustering.scores.items()},
            centres=clustering.model.to_dict(),
        )
        BehaviourCluster.objects.bulk_create(
            [
                BehaviourCluster(
                    run=run,
                    index=c.index,
                    size=c.size,
                    share=c.share,
                    centroid=dict(c.centroid),
                    distinctive=[d.to_dict() for d in c.distinctive],
                )
                for c in clustering.clusters
            ]
        )
        earlier = BehaviourCluster.objects.exclude(run=run)
        removed, _ = earlier.filter(segment__isnull=True).delete()
        kept = earlier.count()
        ClusteringRun.objects.exclude(pk=run.pk).filter(clusters__isnull=True).delete()
    logger.info(
        "Clustered %d visitors into %d clusters (silhouette %.3f); replaced %d, kept %d used by segments.",
        clustering.visitors,
        clustering.k,
        clustering.silhouette,
        removed,
        kept,
    )
    return ClusteringReport(
        run_id=run.pk,
        visitors=clustering.visitors,
        skipped=clustering.skipped,
        k=clustering.k,
        silhouette=clustering.silhouette,
        scores=dict(clustering.scores),
        clusters=[
            {
                "index": c.index,
                "size": c.size,
                "share": c.share,
                "description": distinctions_words(d.to_dict() for d in c.distinctive),
            }
            for c in clustering.clusters
        ],
        removed=removed,
        kept=kept,
    )


def cluster_segment_create(cluster_id: int, *, name: str, key: str, user: Any = None) -> Segment:
    """Make a segment whose one rule is "in this behaviour cluster", link it to the cluster and log it.

    Raises ``BehaviourCluster.DoesNotExist`` if a newer run replaced the cluster
    meanwhile, ``ClusterSegmentError`` if it already has a segment or the name
    or key is taken.
    """
    try:
        with transaction.atomic():
            cluster = BehaviourCluster.objects.select_for_update().select_related("run").get(pk=cluster_id)
            if cluster.segment_id is not None:
                raise ClusterSegmentError(f"{cluster.label} is already the segment “{cluster.segment}”.")
            if Segment.objects.filter(name__iexact=name).exists():
                raise ClusterSegmentError("A segment with this name already exists.", field="name")
            if Segment.objects.filter(key=key).exists():
                raise ClusterSegmentError(_key_taken(key), field="key")
            run = cluster.run
            segment = Segment.objects.create(
                key=key,
                name=name,
                # The rule's number and this description both say the cluster as the screen does ("Cluster 2").
                description=(
                    f"Visitors nearest to {cluster.label} of the behaviour clustering of "
                    f"{run.created_at:%Y-%m-%d} ({cluster.size} of {run.visitors} visitors): {cluster.description}."
                ),
                match="all",
                rules=[
                    {
                        "type": "cluster",
                        "value": {"summary": cluster.description, "cluster": cluster.index, "centres": run.centres},
                    }
                ],
            )
            cluster.segment = segment
            cluster.save(update_fields=["segment"])
            log(
                instance=segment,
                action="tailor.segment.from_cluster",
                user=user,
                data={"cluster": cluster.pk, "run": run.pk, "index": cluster.index},
            )
    except IntegrityError as exc:  # a segment with this key was saved between the check and the insert
        raise ClusterSegmentError(_key_taken(key), field="key") from exc
    return segment


def _key_taken(key: str) -> str:
    return f"A segment with the key “{key}” already exists: give another name or key."


@dataclass(frozen=True)
class ClusterRow:
    cluster: BehaviourCluster
    resembles: BehaviourCluster | None = None  # an earlier cluster, made into a segment, with a nearby centre


@dataclass(frozen=True)
class ClustersOverview:
    run: ClusteringRun | None
    current: list[ClusterRow]
    earlier: list[BehaviourCluster]  # from earlier runs, kept because segments were made from them


def clusters_overview() -> ClustersOverview:
    """The latest run's clusters, each with an earlier segment it resembles, and the earlier clusters still in use."""
    run = ClusteringRun.objects.first()
    if run is None:
        return ClustersOverview(run=None, current=[], earlier=[])
    clusters = list(BehaviourCluster.objects.select_related("segment").filter(run=run))
    earlier = list(
        BehaviourCluster.objects.select_related("segment", "run").exclude(run=run).filter(segment__isnull=False)
    )
    model = CentroidModel.from_dict(run.centres)
    resemblance: dict[int, tuple[float, BehaviourCluster]] = {}
    for old in earlier:
        found = model.nearest_with_distance(old.centroid)
        if found is not None and found[1] <= RESEMBLANCE_DISTANCE:
            index, distance = found
            if index not in resemblance or distance < resemblance[index][0]:
                resemblance[index] = (distance, old)
    rows = [
        ClusterRow(cluster=c, resembles=resemblance[c.index][1] if c.index in resemblance else None) for c in clusters
    ]
    return ClustersOverview(run=run, current=rows, earlier=earlier)
