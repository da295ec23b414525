"""Behaviour clusters: groups of visitors found in their real-time features.

``clusters_fit`` standardizes the features (a feature a visitor does not have
yet counts as the average), fits k-means for every k in a range and keeps the
k with the best silhouette score; each cluster is described by the features
whose centre lies furthest from the overall mean, in standard deviations.
``CentroidModel`` holds a run's scaling and all of its centres, so a segment
made from one cluster places a *new* visitor by the nearest centre, in-process,
with the same arithmetic. Pure Python and numpy; scikit-learn is imported only
when fitting, so serving never loads it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FeatureRow = Mapping[str, float | None]

DISTINCTIVE_Z = 0.5  # a centre this many standard deviations from the mean is worth naming
DISTINCTIVE_TOP = 3


class ClusteringError(ValueError):
    """Not enough (or not varied enough) visitors to cluster."""


def _number(value: Any) -> float | None:
    """A usable feature value, or None for a missing, non-numeric or non-finite one."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


MAX_CENTRES = 64
MAX_FEATURES = 32


@dataclass(frozen=True, slots=True)
class CentroidModel:
    """A clustering run's scaling and centres: what nearest-centre membership needs, JSON-ready.

    ``centroids`` are in standardized units, ``(x - mean) / scale`` per feature.
    """

    features: tuple[str, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    centroids: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        d = len(self.features)
        if d == 0 or len(set(self.features)) != d:
            raise ValueError("A centroid model needs distinct feature names.")
        # Every decide() of a slot targeting the segment measures against every centre: keep it small.
        if d > MAX_FEATURES or len(self.centroids) > MAX_CENTRES:
            raise ValueError(f"A centroid model holds at most {MAX_CENTRES} centres of {MAX_FEATURES} features.")
        if len(self.means) != d or len(self.scales) != d:
            raise ValueError(f"A centroid model needs one mean and one scale per feature ({d}).")
        if not self.centroids or any(len(c) != d for c in self.centroids):
            raise ValueError(f"A centroid model needs at least one centre of {d} values.")
        values = [*self.means, *self.scales, *(v for c in self.centroids for v in c)]
        if not all(isinstance(v, float) and math.isfinite(v) for v in values):
            raise ValueError("A centroid model holds finite numbers only.")
        if any(s <= 0 for s in self.scales):
            raise ValueError("A centroid model's scales must be positive.")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CentroidModel:
        """Build from the stored form (``to_dict``); raises ``ValueError`` on anything malformed."""
        if not isinstance(data, Mapping):
            raise ValueError("A centroid model is stored as an object.")
        try:
            return cls(
                features=tuple(str(f) for f in data["features"]),
                means=tuple(float(v) for v in data["means"]),
                scales=tuple(float(v) for v in data["scales"]),
                centroids=tuple(tuple(float(v) for v in c) for c in data["centroids"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"Malformed centroid model ({exc}).") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "means": list(self.means),
            "scales": list(self.scales),
            "centroids": [list(c) for c in self.centroids],
        }

    def standardize(self, row: FeatureRow) -> tuple[float, ...] | None:
        """The row in standardized units; a missing feature is the mean (0). None when no feature is known."""
        out = []
        known = False
        for name, mean, scale in zip(self.features, self.means, self.scales, strict=True):
            value = _number(row.get(name))
            if value is None:
                out.append(0.0)
            else:
                known = True
                out.append((value - mean) / scale)
        return tuple(out) if known else None

    def nearest_with_distance(self, row: FeatureRow) -> tuple[int, float] | None:
        """Index of the nearest centre and the (standardized, Euclidean) distance to it; ties go to the lower index."""
        z = self.standardize(row)
        if z is None:
            return None
        best, best_d2 = 0, math.inf
        for index, centre in enumerate(self.centroids):
            d2 = sum((a - b) * (a - b) for a, b in zip(z, centre, strict=True))
            if d2 < best_d2:
                best, best_d2 = index, d2
        return best, math.sqrt(best_d2)

    def nearest(self, row: FeatureRow) -> int | None:
        """The cluster a visitor with these features belongs to; None for a visitor without behaviour yet."""
        found = self.nearest_with_distance(row)
        return None if found is None else found[0]


def _format(value: float) -> str:
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{round(value, digits) + 0.0:.{digits}f}"  # + 0.0: no "-0.00" for a rounding error below zero


@dataclass(frozen=True, slots=True)
class Distinction:
    """One feature that sets a cluster apart: its value at the centre, the overall mean and the gap in SDs."""

    feature: str
    value: float
    overall: float
    z: float

    @property
    def direction(self) -> str:
        return "high" if self.z > 0 else "low"

    @property
    def text(self) -> str:
        return f"{self.feature} {self.direction} ({_format(self.value)} vs {_format(self.overall)} overall)"

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "value": self.value, "overall": self.overall, "z": self.z, "text": self.text}


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    index: int
    size: int
    share: float
    centroid: Mapping[str, float]  # in the features' own units
    distinctive: tuple[Distinction, ...]

    @property
    def description(self) -> str:
        return "; ".join(d.text for d in self.distinctive)


@dataclass(frozen=True)
class Clustering:
    """The outcome of ``clusters_fit``. Clusters are numbered by size, largest first."""

    k: int
    silhouette: float
    scores: Mapping[int, float]  # silhouette score of every k tried
    model: CentroidModel
    clusters: tuple[ClusterSummary, ...]
    labels: tuple[int, ...]  # per input row; -1 for a row without any known feature
    visitors: int  # rows clustered
    skipped: int = 0  # rows without any known feature
    overall: Mapping[str, float] = field(default_factory=dict)


def _distinctive(
    features: Sequence[str], centre_z: npt.NDArray[np.float64], means: npt.NDArray[np.float64], centre: Sequence[float]
) -> tuple[Distinction, ...]:
    order = sorted(range(len(features)), key=lambda j: (-abs(float(centre_z[j])), j))
    picked = [j for j in order if abs(float(centre_z[j])) >= DISTINCTIVE_Z][:DISTINCTIVE_TOP] or order[:1]
    return tuple(
        Distinction(feature=features[j], value=float(centre[j]), overall=float(means[j]), z=float(centre_z[j]))
        for j in picked
    )


def clusters_fit(
    rows: Sequence[FeatureRow],
    features: Sequence[str],
    *,
    k_min: int = 2,
    k_max: int = 8,
    seed: int = 0,
    silhouette_sample: int = 2000,
    n_init: int = 4,
) -> Clustering:
    """Cluster visitors' feature rows with k-means, choosing k in ``[k_min, k_max]`` by silhouette score.

    k is bounded by the data: at most the number of distinct rows, and fewer
    than the number of rows. Rows with no known feature (visitors without any
    behaviour yet) are left out, as a cluster rule never matches them. The
    silhouette is computed on a seeded sample of ``silhouette_sample`` rows
    when there are more. The same rows and seed give the same clusters.
    """
    features = tuple(features)
    if not features:
        raise ValueError("Name at least one feature to cluster on.")
    if k_min < 2 or k_max < k_min:
        raise ValueError(f"Need 2 <= k_min <= k_max, not k_min={k_min}, k_max={k_max}.")
    raw = np.array([[_number(row.get(f)) for f in features] for row in rows], dtype=np.float64).reshape(
        len(rows), len(features)
    )
    keep = ~np.all(np.isnan(raw), axis=1)
    x = raw[keep]
    n = len(x)
    if n < 3:
        raise ClusteringError(f"Only {n} visitors with behaviour to cluster; need at least 3.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-missing columns: mean of nothing
        means = np.nanmean(x, axis=0)
        scales = np.nanstd(x, axis=0)
    means = np.where(np.isnan(means), 0.0, means)
    scales = np.where(np.isnan(scales) | (scales <= 1e-12), 1.0, scales)
    z = np.nan_to_num((x - means) / scales, nan=0.0)
    distinct = len(np.unique(z, axis=0))
    k_high = min(k_max, distinct, n - 1)
    if k_high < max(2, k_min):
        raise ClusteringError(
            f"{n} visitors with only {distinct} distinct behaviours: too few to find {k_min} or more clusters."
        )

    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from threadpoolctl import threadpool_limits

    sample = silhouette_sample if n > silhouette_sample else None
    scores: dict[int, float] = {}
    fits: dict[int, Any] = {}
    # One thread: on a few thousand rows of a few features, OpenMP start-up and contention with the
    # other processes of a busy worker cost 10-25 times the work itself (measured: 20k rows, k 2..8).
    with threadpool_limits(limits=1):
        for k in range(k_min, k_high + 1):
            kmeans = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(z)
            if len(set(kmeans.labels_.tolist())) < 2:
                continue
            try:
                score = float(silhouette_score(z, kmeans.labels_, sample_size=sample, random_state=seed))
            except ValueError:  # a sample that caught a single cluster: no score for this k
                continue
            scores[k] = score
            fits[k] = kmeans
    if not scores:
        raise ClusteringError(f"No k in [{k_min}, {k_high}] separated the {n} visitors into clusters.")
    best_k = max(scores, key=lambda k: (scores[k], -k))  # ties: the simpler answer
    kmeans = fits[best_k]

    labels = kmeans.labels_
    sizes = np.bincount(labels, minlength=best_k)
    order = sorted(range(best_k), key=lambda c: (-int(sizes[c]), c))  # largest first, numbered 0..k-1
    renumber = {old: new for new, old in enumerate(order)}
    centres_z = kmeans.cluster_centers_[order]
    centres = centres_z * scales + means
    summaries = tuple(
        ClusterSummary(
            index=new,
            size=int(sizes[old]),
            share=float(sizes[old]) / n,
            centroid={f: float(v) for f, v in zip(features, centres[new], strict=True)},
            distinctive=_distinctive(features, centres_z[new], means, centres[new]),
        )
        for new, old in enumerate(order)
    )
    model = CentroidModel(
        features=features,
        means=tuple(float(v) for v in means),
        scales=tuple(float(v) for v in scales),
        centroids=tuple(tuple(float(v) for v in centre) for centre in centres_z),
    )
    kept_labels = iter(renumber[int(label)] for label in labels)
    all_labels = tuple(next(kept_labels) if k else -1 for k in keep.tolist())
    return Clustering(
        k=best_k,
        silhouette=scores[best_k],
        scores=scores,
        model=model,
        clusters=summaries,
        labels=all_labels,
        visitors=n,
        skipped=len(rows) - n,
        overall={f: float(v) for f, v in zip(features, means, strict=True)},
    )
