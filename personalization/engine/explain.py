"""Why a decision went the way it did, in words an editor reads ("Why am I seeing this").

``decision_explain`` turns what the decision log holds (policy, version, reason, the chosen variant's
share) into an ``Explanation``: the segment rule that matched, the experiment arm, the holdout, the
bandit's allocation, a frequency cap or missing consent. For a model's choice, ``model_effects`` adds
the features that pushed the chosen variant up or down, from LightGBM's own per-feature contributions
(``pred_contrib``: TreeSHAP values of the raw score, which with the bias add up to it exactly). They are
read relative to the other candidates, as the chosen variant's contribution minus the mean over all
candidates: a feature that lifts every variant alike (an evening visitor clicks more on anything) is no
reason to show this one rather than another. Pure: the caller loads the model and passes labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .statistics.results import percent_words

TOP_FEATURES = 5
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# A contribution this small (log-odds) moves the score by less than a rounding error: not a reason.
NEGLIGIBLE = 1e-6

CONTEXT_LABELS = {
    "device": "Device",
    "browser": "Browser",
    "os": "Operating system",
    "country": "Country",
    "referrer_host": "Referring site",
    "hour": "Hour of day",
    "weekday": "Day of the week",
    "is_authenticated": "Logged in",
    "visit_count": "Visits so far",
    "is_returning": "Returning visitor",
    "utm_source": "Campaign source (UTM)",
    "utm_medium": "Campaign medium (UTM)",
    "utm_campaign": "Campaign name (UTM)",
    "variant": "The variant itself",
    "template": "Variant's template",
}
VARIANT_ATTRIBUTE_LABELS = {
    "headline_length": "Headline length (characters)",
    "headline_words": "Headline length (words)",
    "headline_has_number": "Headline has a number",
    "headline_is_question": "Headline is a question",
    "body_length": "Body length (characters)",
    "has_cta": "Has a call to action",
    "cta_label_length": "Call-to-action length",
    "has_image": "Has an image",
    "has_badge": "Has a badge",
    "badge_is_discount": "Badge is a discount",
    "position": "Layout",
}
FLAGS = frozenset(
    {
        "is_authenticated",
        "is_returning",
        "v_headline_has_number",
        "v_headline_is_question",
        "v_has_cta",
        "v_has_image",
        "v_has_badge",
        "v_badge_is_discount",
    }
)

FloatArray = npt.NDArray[np.float64]


def _humanize(name: str) -> str:
    return name.replace("_", " ").strip().capitalize() or name


def column_label(column: str, feature_label: Callable[[str], str] | None = None) -> str:
    """An editor's name for a model column: ``device`` "Device", ``f_avg_dwell_s`` by ``feature_label``."""
    if column in CONTEXT_LABELS:
        return CONTEXT_LABELS[column]
    if column.startswith("f_"):
        name = column[2:]
        return feature_label(name) if feature_label is not None else _humanize(name)
    if column.startswith("v_"):
        name = column[2:]
        return "Variant: " + VARIANT_ATTRIBUTE_LABELS.get(name, _humanize(name).lower())
    if column.startswith("a_"):
        return f"Site attribute “{column[2:]}”"
    return _humanize(column)


def value_words(column: str, value: Any) -> str:
    """A feature value as an editor reads it: "Tuesday", "yes", "12.5"; "unknown" when missing."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "unknown"
    if isinstance(value, str):
        return value
    if column == "weekday" and float(value).is_integer() and 0 <= int(value) < len(WEEKDAYS):
        return WEEKDAYS[int(value)]
    if column in FLAGS:
        return "yes" if value else "no"
    if column == "hour" and float(value).is_integer():
        return f"{int(value):02d}:00–{int(value):02d}:59"
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:.4g}"


@dataclass(frozen=True, slots=True)
class FeatureEffect:
    """One feature's push on the chosen variant, in log-odds relative to the candidates' mean."""

    feature: str  # the model's column: "device", "f_avg_dwell_s", "v_has_badge"
    label: str  # "Device"
    value: str  # "mobile"
    contribution: float

    @property
    def direction(self) -> str:
        return "up" if self.contribution > 0 else "down"

    @property
    def words(self) -> str:
        push = "pushed this variant up" if self.contribution > 0 else "held this variant back"
        return f"{self.label}: {self.value} ({push})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "label": self.label,
            "value": self.value,
            "contribution": round(self.contribution, 6),
            "direction": self.direction,
            "words": self.words,
        }


@dataclass(frozen=True, slots=True)
class ModelReading:
    """What the model said about a decision: each candidate's score and the chosen one's effects."""

    scores: Mapping[str, float]  # predicted reward per candidate, the logistic of its contributions' sum
    effects: tuple[FeatureEffect, ...]
    candidates: int  # how many variants the effects are relative to (1: absolute)


def model_effects(
    contributions: npt.ArrayLike,
    columns: Sequence[str],
    keys: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    chosen: str,
    *,
    feature_label: Callable[[str], str] | None = None,
    top: int = TOP_FEATURES,
) -> ModelReading:
    """Read LightGBM's ``pred_contrib`` for the candidates ``keys`` (one row each, columns + bias).

    The chosen variant's effects are its contributions minus the mean over the candidates (with a
    single candidate, its own contributions): the ``top`` largest by size, largest first; features
    whose push is negligible are left out.
    """
    matrix = np.asarray(contributions, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape != (len(keys), len(columns) + 1):
        raise ValueError(
            f"Expected contributions of shape ({len(keys)}, {len(columns) + 1}), got {getattr(matrix, 'shape', None)}."
        )
    if chosen not in keys:
        raise ValueError(f"The chosen variant {chosen!r} is not among the candidates scored.")
    index = list(keys).index(chosen)
    raw = matrix.sum(axis=1)
    scores = {key: 1.0 / (1.0 + math.exp(-float(score))) for key, score in zip(keys, raw, strict=True)}
    features = matrix[:, :-1]
    relative = features[index] - features.mean(axis=0) if len(keys) > 1 else features[index]
    order = sorted(range(len(columns)), key=lambda j: (-abs(float(relative[j])), columns[j]))
    effects = tuple(
        FeatureEffect(
            feature=columns[j],
            label=column_label(columns[j], feature_label),
            value=value_words(columns[j], rows[index].get(columns[j])),
            contribution=float(relative[j]),
        )
        for j in order[:top]
        if abs(float(relative[j])) > NEGLIGIBLE
    )
    return ModelReading(scores=scores, effects=effects, candidates=len(keys))


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why one decision showed its variant: the policy and its reason in words, and a model's features."""

    policy: str
    policy_version: str
    reason: str
    share: float  # the chosen variant's probability under what chose it (its propensity)
    summary: str
    segment: str = ""  # the segment key of a rule (or a bandit's allocation) that applied
    segment_name: str = ""
    experiment: str = ""
    score: float | None = None  # the model's predicted reward for the chosen variant
    effects: tuple[FeatureEffect, ...] = ()
    relative_to: int = 0  # the number of candidates the effects are relative to (0: no model)
    note: str = ""  # what could not be recomputed, if anything

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "policy_version": self.policy_version,
            "reason": self.reason,
            "share": round(self.share, 6),
            "summary": self.summary,
            "segment": self.segment or None,
            "segment_name": self.segment_name or None,
            "experiment": self.experiment or None,
            "score": None if self.score is None else round(self.score, 6),
            "features": [effect.to_dict() for effect in self.effects],
            "relative_to": self.relative_to,
            "note": self.note or None,
        }


def _share(share: float) -> str:
    return percent_words(share, signed=False)  # the one way Tailor writes a percentage


def _quoted(name: str, key: str) -> str:
    return f"“{name or key}”"


def decision_explain(
    *,
    policy: str,
    policy_version: str,
    reason: str,
    propensity: float,
    segment_names: Mapping[str, str] | None = None,
    experiment_names: Mapping[str, str] | None = None,
    reading: ModelReading | None = None,
    chosen: str = "",
    note: str = "",
) -> Explanation:
    """The explanation of one logged decision; ``reading`` is the model's, for a model's choice."""
    segment_names = segment_names or {}
    share = float(propensity)
    segment = ""
    experiment = ""
    tail = ""
    if reason in ("novelty", "caps"):
        tail = " Frequency caps or novelty decay for this visitor reweighted the choice."
    if policy == "holdout":
        summary = (
            "The visitor is in the slot's holdout: they see the default variant, so that personalization "
            "can be measured against doing nothing."
        )
    elif policy == "experiment":
        experiment = policy_version
        name = (experiment_names or {}).get(experiment, "")
        summary = (
            f"The visitor takes part in the experiment {_quoted(name, experiment)} and was assigned to this "
            f"variant's arm, which gets {_share(share)} of the experiment's visitors (sticky per visitor)."
        )
    elif policy == "capped":
        summary = (
            "The visitor had already seen every variant as often as the slot's frequency caps allow, "
            "so the default variant was shown."
        )
    elif policy == "no-consent":
        summary = "The visitor has not consented to personalization: the default variant, chosen without their data."
    elif policy == "trigger-default":
        summary = "The slot waits for its trigger (scroll, time on page or exit); the default shows until it fires."
    elif policy == "fallback":
        summary = "The slot's strategy failed for this request, so the default variant was shown."
    elif policy == "fixed":
        summary = "The slot shows its default variant to everyone (fixed strategy)."
        if reason == "first-live":
            summary = "The slot's default variant is paused, so its first live variant was shown."
    elif policy == "rules":
        if reason.startswith("segment:"):
            segment = reason.removeprefix("segment:")
            summary = (
                f"The visitor matched the segment {_quoted(segment_names.get(segment, ''), segment)}, "
                "the first of the slot's rules that applies, and that rule shows this variant."
            )
        elif reason == "first-live":
            summary = "The visitor matched none of the slot's rules and its default is paused: its first live variant."
        else:
            summary = "The visitor matched none of the slot's rules, so the default variant was shown."
    elif policy == "split":
        summary = (
            f"Traffic split: this variant gets {_share(share)} of visitors, and this visitor's sticky "
            "bucket falls in its share."
        )
    elif policy == "bandit":
        segment = reason.removeprefix("bandit:") if reason.startswith("bandit:") else ""
        who = f"visitors in the segment {_quoted(segment_names.get(segment, ''), segment)}" if segment else "visitors"
        summary = (
            f"The bandit, learning from every click, currently gives this variant {_share(share)} of {who}; "
            "this visitor's draw fell in that share."
        )
    elif policy == "model":
        summary = _model_summary(reason, share, reading, chosen)
    else:
        summary = f"Chosen by the {policy!r} policy ({reason or 'no reason logged'})."
    return Explanation(
        policy=policy,
        policy_version=policy_version,
        reason=reason,
        share=share,
        summary=summary + tail,
        segment=segment,
        segment_name=segment_names.get(segment, "") if segment else "",
        experiment=experiment,
        score=reading.scores.get(chosen) if reading is not None else None,
        effects=reading.effects if reading is not None else (),
        relative_to=reading.candidates if reading is not None else 0,
        note=note,
    )


def _model_summary(reason: str, share: float, reading: ModelReading | None, chosen: str) -> str:
    if reason == "uniform":
        return f"No trained model serves this slot yet: every variant gets an equal share ({_share(share)})."
    score = reading.scores.get(chosen) if reading is not None else None
    expected = f" (predicted reward {score * 100:.1f} %)" if score is not None else ""
    if reason == "explore":
        return (
            f"Exploration: the model rates another variant higher for this visitor, but shows this one to "
            f"{_share(share)} of such visitors to keep learning{expected}."
        )
    return (
        f"The model expects this variant to do best for this visitor{expected}; it shows it to "
        f"{_share(share)} of such visitors and explores the rest."
    )
