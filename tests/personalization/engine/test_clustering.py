"""Behaviour clustering in the engine: planted groups of visitors come back, with their planted traits, and a
new visitor is placed by the nearest centre. No database."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from personalization.engine import Context, SegmentSpec
from personalization.engine.clustering import CentroidModel, ClusteringError, clusters_fit
from personalization.engine.segments import ClusterRule, rule_from_dict

FEATURES = (
    "clicks_last_hour",
    "sessions_7d",
    "avg_scroll_depth",
    "avg_dwell_s",
    "seconds_since_last_visit",
    "conversions_30d",
    "deal_clicks_ratio",
)

# Each planted group differs from the rest in one feature (and its direction); everything else is shared noise.
PLANTED = {
    "deal seekers": ("deal_clicks_ratio", 0.75),
    "deep readers": ("avg_scroll_depth", 92.0),
    "converters": ("conversions_30d", 4.0),
    "regulars": ("sessions_7d", 9.0),
}
BASE = {"deal_clicks_ratio": 0.05, "avg_scroll_depth": 35.0, "conversions_30d": 0.0, "sessions_7d": 1.5}


def visitor(group: str, rng: random.Random) -> dict[str, float | None]:
    row: dict[str, float | None] = {
        "clicks_last_hour": float(rng.randint(0, 3)),
        "sessions_7d": max(1.0, rng.gauss(BASE["sessions_7d"], 0.5)),
        "avg_scroll_depth": rng.gauss(BASE["avg_scroll_depth"], 6),
        "avg_dwell_s": rng.gauss(40, 8),
        "seconds_since_last_visit": None if rng.random() < 0.5 else rng.uniform(3600, 86400),
        "conversions_30d": max(0.0, rng.gauss(BASE["conversions_30d"], 0.2)),
        "deal_clicks_ratio": min(1.0, max(0.0, rng.gauss(BASE["deal_clicks_ratio"], 0.03))),
    }
    feature, value = PLANTED[group]
    spread = {"deal_clicks_ratio": 0.05, "avg_scroll_depth": 4.0, "conversions_30d": 0.5, "sessions_7d": 0.8}[feature]
    row[feature] = rng.gauss(value, spread)
    return row


def population(groups: list[str], sizes: list[int], seed: int = 7) -> tuple[list[dict], list[str]]:
    rng = random.Random(seed)
    rows, truth = [], []
    for group, size in zip(groups, sizes, strict=True):
        for _ in range(size):
            rows.append(visitor(group, rng))
            truth.append(group)
    order = list(range(len(rows)))
    rng.shuffle(order)
    return [rows[i] for i in order], [truth[i] for i in order]


def pairs(truth: list[str], labels: tuple[int, ...]) -> dict[str, int]:
    """Each planted group's cluster, asserting that the group landed in one cluster only."""
    counts = Counter(zip(truth, labels, strict=True))
    mapping = {}
    for group in set(truth):
        clusters = {label for (g, label) in counts if g == group}
        assert len(clusters) == 1, (group, counts)
        mapping[group] = clusters.pop()
    return mapping


@pytest.mark.parametrize(
    ("groups", "sizes"),
    [
        (["deal seekers", "deep readers"], [120, 80]),
        (["deal seekers", "deep readers", "converters"], [150, 100, 50]),
        (["deal seekers", "deep readers", "converters", "regulars"], [90, 80, 70, 60]),
    ],
)
def test_recovers_planted_clusters_and_their_traits(groups, sizes):
    rows, truth = population(groups, sizes)
    result = clusters_fit(rows, FEATURES, seed=0)

    assert result.k == len(groups)  # the silhouette chose the planted number of groups
    assert result.silhouette == max(result.scores.values())
    assert set(result.scores) == set(range(2, 9))
    mapping = pairs(truth, result.labels)
    assert len(set(mapping.values())) == len(groups)  # and no two groups share a cluster
    planted = {PLANTED[group][0] for group in groups}

    by_index = {c.index: c for c in result.clusters}
    for group, size in zip(groups, sizes, strict=True):
        cluster = by_index[mapping[group]]
        assert cluster.size == size
        assert cluster.share == pytest.approx(size / sum(sizes))
        feature, value = PLANTED[group]
        traits = {(d.feature, d.direction): d for d in cluster.distinctive}
        assert (feature, "high") in traits, cluster.description
        assert traits[feature, "high"].value == pytest.approx(value, rel=0.1)
        assert cluster.centroid[feature] == pytest.approx(value, rel=0.1)
        # Only planted traits describe a cluster: never the noise every group shares.
        assert {d.feature for d in cluster.distinctive} <= planted
        if len(groups) > 2:  # with two groups, "high on one" and "low on the other's" tie
            assert cluster.description.startswith(f"{feature} high (")
    # Numbered by size, largest first.
    assert [c.size for c in result.clusters] == sorted(sizes, reverse=True)


def test_description_reads_like_a_sentence():
    rows, _ = population(["deal seekers", "deep readers"], [60, 60])
    result = clusters_fit(rows, FEATURES, seed=0)
    deal = next(c for c in result.clusters if c.distinctive[0].feature == "deal_clicks_ratio")
    text = deal.distinctive[0].text
    overall = result.overall["deal_clicks_ratio"]
    assert text == f"deal_clicks_ratio high ({deal.centroid['deal_clicks_ratio']:.2f} vs {overall:.2f} overall)"
    # The deep readers are, by the same token, low on deals.
    readers = next(c for c in result.clusters if c is not deal)
    assert "avg_scroll_depth high" in readers.description
    assert "deal_clicks_ratio low" in readers.description


def test_same_rows_and_seed_give_the_same_clusters():
    rows, _ = population(["deal seekers", "deep readers", "converters"], [50, 40, 30])
    first = clusters_fit(rows, FEATURES, seed=3)
    second = clusters_fit(rows, FEATURES, seed=3)
    assert first.labels == second.labels
    assert first.model == second.model
    assert first.scores == second.scores


def test_large_populations_score_a_sample_and_stay_quick():
    rows, truth = population(["deal seekers", "deep readers", "converters"], [1500, 1000, 500])
    result = clusters_fit(rows, FEATURES, k_max=5, seed=0, silhouette_sample=500)
    assert result.k == 3
    assert len(set(pairs(truth, result.labels).values())) == 3


def test_visitors_without_behaviour_are_left_out():
    rows, truth = population(["deal seekers", "deep readers"], [40, 40])
    rows = [dict.fromkeys(FEATURES), *rows, dict.fromkeys(FEATURES, None)]
    result = clusters_fit(rows, FEATURES, seed=0)
    assert result.labels[0] == result.labels[-1] == -1
    assert (result.visitors, result.skipped) == (80, 2)
    assert result.k == 2


def test_a_feature_nobody_has_yet_does_not_break_the_fit():
    rows, truth = population(["deal seekers", "deep readers"], [40, 40])
    for row in rows:
        row["avg_dwell_s"] = None
    result = clusters_fit(rows, FEATURES, seed=0)
    assert result.k == 2
    assert result.model.scales[FEATURES.index("avg_dwell_s")] == 1.0


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param([], id="nobody"),
        pytest.param([{"deal_clicks_ratio": 0.5}] * 2, id="two-visitors"),
        pytest.param([{"deal_clicks_ratio": 0.5}] * 50, id="all-alike"),
        pytest.param([dict.fromkeys(FEATURES)] * 50, id="no-behaviour"),
    ],
)
def test_too_little_to_cluster_is_a_clear_error(rows):
    with pytest.raises(ClusteringError, match=r"visitors"):
        clusters_fit(rows, FEATURES)


def test_k_is_bounded_by_the_distinct_behaviours():
    rows = [{"deal_clicks_ratio": v} for v in (0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.5, 0.5)]
    result = clusters_fit(rows, FEATURES, k_max=8)
    assert result.k <= 3
    assert max(result.scores) <= 3


# Nearest-centre membership


def fitted():
    rows, truth = population(["deal seekers", "deep readers", "converters"], [60, 50, 40])
    return rows, truth, clusters_fit(rows, FEATURES, seed=0)


def test_nearest_centre_agrees_with_the_fit_and_survives_storage():
    rows, _, result = fitted()
    stored = CentroidModel.from_dict(json.loads(json.dumps(result.model.to_dict())))
    assert stored == result.model
    assert [stored.nearest(row) for row in rows] == list(result.labels)


def test_a_new_visitor_goes_to_the_cluster_they_behave_like():
    _, truth, result = fitted()
    mapping = pairs(truth, result.labels)
    rng = random.Random(99)
    for group in ("deal seekers", "deep readers", "converters"):
        for _ in range(20):
            assert result.model.nearest(visitor(group, rng)) == mapping[group]
    # Partial features: the known ones decide, the missing ones count as average.
    assert result.model.nearest({"deal_clicks_ratio": 0.8}) == mapping["deal seekers"]
    assert result.model.nearest({"avg_scroll_depth": 95.0, "deal_clicks_ratio": None}) == mapping["deep readers"]


@pytest.mark.parametrize(
    "features",
    [{}, dict.fromkeys(FEATURES), {"unrelated": 1.0}, {"deal_clicks_ratio": float("nan")}, {"avg_dwell_s": "x"}],
)
def test_a_visitor_without_behaviour_is_in_no_cluster(features):
    _, _, result = fitted()
    assert result.model.nearest(features) is None


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="empty"),
        pytest.param("centres", id="not-an-object"),
        pytest.param({"features": ["a"], "means": [0.0], "scales": [1.0], "centroids": []}, id="no-centres"),
        pytest.param({"features": ["a"], "means": [0.0], "scales": [0.0], "centroids": [[1.0]]}, id="zero-scale"),
        pytest.param({"features": ["a", "b"], "means": [0.0], "scales": [1.0], "centroids": [[1.0]]}, id="ragged"),
        pytest.param({"features": ["a"], "means": ["x"], "scales": [1.0], "centroids": [[1.0]]}, id="not-a-number"),
        pytest.param(
            {"features": ["a"], "means": [float("inf")], "scales": [1.0], "centroids": [[1.0]]}, id="infinite"
        ),
    ],
)
def test_malformed_stored_centres_are_a_value_error(data):
    with pytest.raises(ValueError, match=r"[Cc]entroid model|could not convert"):
        CentroidModel.from_dict(data)


# The segment rule


def cluster_rule(result, index: int) -> ClusterRule:
    return rule_from_dict({"kind": "cluster", "centres": result.model.to_dict(), "cluster": str(index), "summary": "x"})


def test_cluster_rule_matches_visitors_nearest_its_centre():
    _, truth, result = fitted()
    mapping = pairs(truth, result.labels)
    deal = cluster_rule(result, mapping["deal seekers"])
    spec = SegmentSpec("deal-seekers", (deal,))
    assert spec.uses_features  # so a slot consulting it reads the visitor's real-time features
    rng = random.Random(5)
    assert spec.matches(Context.from_mapping({"features": visitor("deal seekers", rng)}))
    assert not spec.matches(Context.from_mapping({"features": visitor("deep readers", rng)}))
    assert not spec.matches(Context.from_mapping({}))  # no behaviour yet: in no cluster


@pytest.mark.parametrize("cluster", [-1, 3, 99])
def test_cluster_rule_for_a_cluster_the_run_does_not_have_is_refused(cluster):
    _, _, result = fitted()
    with pytest.raises(ValueError, match=r"does not exist"):
        rule_from_dict({"kind": "cluster", "centres": result.model.to_dict(), "cluster": cluster})


def test_cluster_rule_without_centres_is_refused():
    with pytest.raises(ValueError, match=r"centroid model|Invalid"):
        rule_from_dict({"kind": "cluster", "centres": None, "cluster": 0})
