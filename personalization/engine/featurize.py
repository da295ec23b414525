"""Feature rows: how one (visitor context, variant) pair looks to the reward model.

``row_features`` is the only place a pair becomes features, and both training (from the
decision log) and serving call it, so the model never meets a feature at serving time
that it was built differently for. A ``FeatureSchema`` fitted on training rows then fixes
the columns and categorical vocabularies, and ``matrix`` turns rows into the float
matrix LightGBM reads, with anything unseen in training encoded as missing.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from .context import Context

FeatureValue = float | str | None
FloatArray = npt.NDArray[np.float64]

MAX_CATEGORIES = 200  # per column: a long tail of one-off values only feeds overfitting
SCHEMA_FORMAT_VERSION = 1
UTM_FEATURES = ("source", "medium", "campaign")  # term and content are too sparse to learn from

_TAG = re.compile(r"<[^>]*>")
_WHITESPACE = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")
# A discount reads "-20 %", "−10 €" or "20% off"; a hyphen inside a word ("Sign-up") does not count.
_DISCOUNT = re.compile(r"%|[-\u2212\u2013]\s?\d")


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, slots=True)
class VariantFeatures:
    """What the model knows about a variant: its key, its micro-template and derived attributes.

    Attributes are numbers (``has_badge`` 1.0, ``headline_length`` 24.0) or short
    categorical strings (``position`` "right"); they let the model share what it learns
    between variants that look alike, including a variant added after training.
    """

    key: str
    template: str
    attributes: Mapping[str, float | str] = field(default_factory=lambda: _frozen({}))

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("A variant needs a non-empty key.")
        attributes: dict[str, float | str] = {}
        for name, value in self.attributes.items():
            if isinstance(value, str):
                attributes[name] = value
            elif isinstance(value, bool | int | float):
                attributes[name] = float(value)
            else:
                raise ValueError(
                    f"Variant {self.key!r}: attribute {name!r} must be a number or a string, got {value!r}."
                )
        object.__setattr__(self, "attributes", _frozen(attributes))


def _text(value: Any) -> str:
    """Visible text of a possibly-HTML string: tags dropped, entities decoded, spaces collapsed."""
    if value is None:
        return ""
    text = html.unescape(_TAG.sub(" ", str(value)))
    return _WHITESPACE.sub(" ", text).strip()


def _flag(condition: object) -> float:
    return 1.0 if condition else 0.0


def variant_features(key: str, template: str, params: Mapping[str, Any]) -> VariantFeatures:
    """Derive a variant's model attributes from its parameter dict.

    Reads ``headline``, ``body`` (HTML), ``cta_label``, ``cta_url``, ``image`` (None or a
    dict), ``badge`` and ``position``; any other parameter is ignored so that a new
    template field cannot silently change the feature set. Lengths count visible text.
    """
    if not isinstance(params, Mapping):
        raise ValueError(f"Variant {key!r}: params must be a mapping, got {type(params).__name__}.")
    headline = _text(params.get("headline"))
    body = _text(params.get("body"))
    cta_label = _text(params.get("cta_label"))
    cta_url = str(params.get("cta_url") or "").strip()
    badge = _text(params.get("badge"))
    position = str(params.get("position") or "").strip().lower()

    attributes: dict[str, float | str] = {
        "headline_length": float(len(headline)),
        "headline_words": float(len(headline.split())),
        "headline_has_number": _flag(_DIGIT.search(headline)),
        "headline_is_question": _flag(headline.endswith("?")),
        "body_length": float(len(body)),
        # A label without a link renders no button, so it is no call to action.
        "has_cta": _flag(cta_label and cta_url),
        "cta_label_length": float(len(cta_label)),
        "has_image": _flag(params.get("image")),
        "has_badge": _flag(badge),
        "badge_is_discount": _flag(_DISCOUNT.search(badge)),
    }
    if position:
        attributes["position"] = position
    return VariantFeatures(key=key, template=template, attributes=attributes)


def _categorical(value: Any) -> str | None:
    text = str(value) if value is not None else ""
    return text or None


def _scalar(value: Any) -> FeatureValue:
    """A feature value as the model stores it: float for numbers and flags, str for labels."""
    if value is None:
        return None
    if isinstance(value, bool | int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return value or None
    return None


def context_features(context: Context) -> dict[str, FeatureValue]:
    """The visitor half of a feature row; ``row_features`` adds the variant half.

    Exposed so that scoring many variants for one visitor builds this part once.
    """
    row: dict[str, FeatureValue] = {
        "device": _categorical(context.device),
        "browser": _categorical(context.browser),
        "os": _categorical(context.os),
        "country": _categorical(context.country),
        "referrer_host": _categorical(context.referrer_host),
        "hour": float(context.hour),
        "weekday": float(context.weekday),
        "is_authenticated": _flag(context.is_authenticated),
        "visit_count": float(context.visit_count),
        "is_returning": _flag(context.is_returning),
    }
    for name in UTM_FEATURES:
        row[f"utm_{name}"] = _categorical(context.utm.get(name))
    for name, value in context.features.items():
        row[f"f_{name}"] = _scalar(value)
    for name, value in context.attributes.items():
        # Lists and nested mappings have no single value a tree can split on.
        if value is None or isinstance(value, bool | int | float | str):
            row[f"a_{name}"] = _scalar(value)
    return row


def context_signature(context: Context) -> str:
    """A short digest of the request-level half of a feature row: everything but the real-time features.

    Scores computed ahead of time hold only for the context they were computed in: a visitor
    back on another device, from another campaign or in another hour is scored afresh.
    Real-time features are left out: they move with every event, and the scoring worker
    reads them fresh each run.
    """
    # None is left out as well: a logged context drops empty values, so "missing" and "None" must agree.
    items = sorted(
        (name, value)
        for name, value in context_features(context).items()
        if value is not None and not name.startswith("f_")
    )
    return hashlib.blake2b(repr(items).encode(), digest_size=8).hexdigest()


def variant_columns(variant: VariantFeatures) -> dict[str, FeatureValue]:
    """The variant half of a feature row: ``variant`` (its key), ``template`` and ``v_<attribute>``."""
    row: dict[str, FeatureValue] = {"variant": variant.key, "template": _categorical(variant.template)}
    for name, value in variant.attributes.items():
        row[f"v_{name}"] = _scalar(value)
    return row


def row_features(context: Context, variant: VariantFeatures) -> dict[str, FeatureValue]:
    """One feature row for showing ``variant`` in ``context``: the function training and serving share.

    Categorical values are strings, numbers and flags are floats, anything missing is
    None. Real-time features appear as ``f_<name>``, scalar context attributes as
    ``a_<name>`` and variant attributes as ``v_<name>``. No hand-made crosses: the
    trees learn device × variant interactions themselves.
    """
    row = context_features(context)
    row.update(variant_columns(variant))
    return row


@dataclass(frozen=True)
class FeatureSchema:
    """The columns a model was trained on, in matrix order, and each categorical's vocabulary.

    Numeric columns come first, then categorical ones, each block sorted by name. A
    categorical value is encoded as its index in the (sorted) vocabulary; a value the
    vocabulary lacks is encoded as missing, exactly as a missing value is.
    """

    numeric: tuple[str, ...]
    categorical: dict[str, tuple[str, ...]]
    # Looked up with any cell value: a value outside the vocabulary (None, a number) misses and is NaN.
    _indexes: dict[str, dict[Hashable, float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        numeric = tuple(self.numeric)
        categorical = {str(name): tuple(vocabulary) for name, vocabulary in self.categorical.items()}
        names = numeric + tuple(categorical)
        if len(set(names)) != len(names):
            duplicates = sorted({name for name in names if names.count(name) > 1})
            raise ValueError(f"Feature schema lists columns more than once: {', '.join(duplicates)}.")
        for name, vocabulary in categorical.items():
            if len(set(vocabulary)) != len(vocabulary):
                raise ValueError(f"Vocabulary of categorical column {name!r} has duplicates.")
            if not all(isinstance(value, str) for value in vocabulary):
                raise ValueError(f"Vocabulary of categorical column {name!r} must hold strings only.")
        object.__setattr__(self, "numeric", numeric)
        object.__setattr__(self, "categorical", categorical)
        object.__setattr__(
            self,
            "_indexes",
            {name: {value: float(i) for i, value in enumerate(vocabulary)} for name, vocabulary in categorical.items()},
        )

    @property
    def columns(self) -> tuple[str, ...]:
        """All column names in matrix order."""
        return self.numeric + tuple(self.categorical)

    @property
    def categorical_indices(self) -> list[int]:
        """Matrix positions of the categorical columns, as LightGBM's ``categorical_feature`` wants them."""
        start = len(self.numeric)
        return list(range(start, start + len(self.categorical)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": SCHEMA_FORMAT_VERSION,
            "numeric": list(self.numeric),
            "categorical": {name: list(vocabulary) for name, vocabulary in self.categorical.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSchema:
        if not isinstance(data, Mapping):
            raise ValueError(f"A feature schema must be a mapping, got {type(data).__name__}.")
        version = data.get("format_version", SCHEMA_FORMAT_VERSION)
        if version != SCHEMA_FORMAT_VERSION:
            raise ValueError(
                f"Unsupported feature schema format_version {version!r}; expected {SCHEMA_FORMAT_VERSION}."
            )
        numeric = data.get("numeric")
        categorical = data.get("categorical")
        if not isinstance(numeric, list | tuple) or not all(isinstance(name, str) for name in numeric):
            raise ValueError("Feature schema 'numeric' must be a list of column names.")
        if not isinstance(categorical, Mapping) or not all(
            isinstance(vocabulary, list | tuple) for vocabulary in categorical.values()
        ):
            raise ValueError("Feature schema 'categorical' must map column names to lists of values.")
        return cls(numeric=tuple(numeric), categorical={name: tuple(v) for name, v in categorical.items()})


def schema_fit(rows: Iterable[Mapping[str, Any]], *, max_categories: int = MAX_CATEGORIES) -> FeatureSchema:
    """Fit the columns and vocabularies of a schema on training rows.

    A column is categorical when any row holds a string in it (other values in such a
    column are compared by their ``str()``), numeric otherwise; a column that is None
    in every row carries no information and is left out. Each vocabulary keeps the
    ``max_categories`` most frequent values (ties by value), sorted.
    """
    if max_categories < 1:
        raise ValueError(f"max_categories must be at least 1, got {max_categories}.")
    rows = list(rows)
    present: set[str] = set()
    textual: set[str] = set()
    for row in rows:
        for name, value in row.items():
            if value is None:
                continue
            present.add(name)
            if isinstance(value, str):
                textual.add(name)

    categorical: dict[str, tuple[str, ...]] = {}
    for name in sorted(textual):
        counts = Counter(row.get(name) for row in rows)
        counts.pop(None, None)
        merged: Counter[str] = Counter()
        for value, count in counts.items():
            merged[value if isinstance(value, str) else str(value)] += count
        top = sorted(merged.items(), key=lambda item: (-item[1], item[0]))[:max_categories]
        categorical[name] = tuple(sorted(value for value, _ in top))
    numeric = tuple(sorted(present - textual))
    return FeatureSchema(numeric=numeric, categorical=categorical)


def _float_or_nan(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def matrix(rows: Sequence[Mapping[str, Any]], schema: FeatureSchema) -> FloatArray:
    """Encode rows as a float64 matrix with the schema's columns (numeric, then categorical).

    Missing numbers and categorical values outside the vocabulary become NaN, which
    LightGBM treats as missing. Columns are built one at a time from plain lists so the
    per-cell work stays inside list comprehensions and numpy.
    """
    n = len(rows)
    out = np.empty((n, len(schema.columns)), dtype=np.float64)
    for j, name in enumerate(schema.numeric):
        values = [row.get(name) for row in rows]
        try:
            # numpy turns None into NaN on its own; strings in a numeric column need the slow path.
            out[:, j] = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            out[:, j] = [math.nan if value is None else _float_or_nan(value) for value in values]
    nan = math.nan
    for j, name in enumerate(schema.categorical, start=len(schema.numeric)):
        get = schema._indexes[name].get
        values = [row.get(name) for row in rows]
        column = np.asarray([get(value, nan) for value in values], dtype=np.float64)
        # Non-string values (a number in a mixed column) are looked up by their str(),
        # as schema_fit counted them; only cells that missed need the second look.
        for i in np.flatnonzero(np.isnan(column)).tolist():
            value = values[i]
            if value is not None and not isinstance(value, str):
                column[i] = get(str(value), nan)
        out[:, j] = column
    return out


@dataclass(frozen=True, slots=True)
class VariantBlock:
    """The variant half of ``score_matrix``, encoded once for a list of variants and a schema.

    A policy scoring the same variants for visitor after visitor keeps one and encodes only each
    visitor's half per call (``encode``): most of a schema's columns are the variant's.
    """

    by_variant: FloatArray  # (variants, columns): each variant's half encoded, missing elsewhere
    from_variant: npt.NDArray[np.bool_]  # (variants, columns): whether the variant half sets the column
    visitor_schema: FeatureSchema  # the columns some variant leaves unset: only these can show a visitor's value
    positions: tuple[int, ...]  # where the visitor schema's columns sit in the full schema

    def encode(self, contexts: Sequence[Context]) -> FloatArray:
        """Every variant for every visitor, visitor-major: ``score_matrix(contexts, variants, schema)``."""
        n_variants, n_columns = self.by_variant.shape
        by_visitor = np.full((len(contexts), n_columns), np.nan, dtype=np.float64)
        if self.positions and contexts:
            by_visitor[:, list(self.positions)] = matrix(
                [context_features(context) for context in contexts], self.visitor_schema
            )
        # (visitors, 1, columns) against (1, variants, columns): every visitor repeated once per variant.
        paired = np.where(self.from_variant[np.newaxis], self.by_variant[np.newaxis], by_visitor[:, np.newaxis])
        return paired.reshape(len(contexts) * n_variants, n_columns)


def variant_block(variants: Sequence[VariantFeatures], schema: FeatureSchema) -> VariantBlock:
    """Encode the variant half of ``score_matrix`` once (see ``VariantBlock``)."""
    columns = schema.columns
    variant_rows = [variant_columns(variant) for variant in variants]
    from_variant = np.array([[name in row for name in columns] for row in variant_rows], dtype=bool).reshape(
        len(variant_rows), len(columns)
    )
    # Only columns some variant leaves unset can show a visitor's value; encoding just those
    # skips the variant columns, which are most of the schema and always missing here.
    set_by_all: npt.NDArray[np.bool_] = np.all(from_variant, axis=0)  # one flag per column
    needed = frozenset(name for name, by_all in zip(columns, set_by_all.tolist(), strict=True) if not by_all)
    return VariantBlock(
        by_variant=matrix(variant_rows, schema).reshape(len(variant_rows), len(columns)),
        from_variant=from_variant,
        visitor_schema=FeatureSchema(
            numeric=tuple(name for name in schema.numeric if name in needed),
            categorical={name: vocabulary for name, vocabulary in schema.categorical.items() if name in needed},
        ),
        positions=tuple(j for j, name in enumerate(columns) if name in needed),
    )


def score_matrix(contexts: Sequence[Context], variants: Sequence[VariantFeatures], schema: FeatureSchema) -> FloatArray:
    """The matrix for scoring every variant for every visitor, visitor-major (visitor 0 × all variants, ...).

    Equal to ``matrix([row_features(c, v) for c in contexts for v in variants], schema)``,
    but each visitor's half is built and encoded once, not once per variant, and each
    variant's half once, not once per visitor; numpy then pairs them up. Encoding is cell
    by cell (a value's code does not depend on the other rows), so encoding the halves
    apart gives the same codes. As in ``row_features``, a column the variant half sets
    (even to None) hides the visitor's value.
    """
    if not contexts or not variants:
        return np.empty((len(contexts) * len(variants), len(schema.columns)), dtype=np.float64)
    return variant_block(variants, schema).encode(contexts)
