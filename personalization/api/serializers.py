"""Request and response shapes of the decisions API, validated field by field.

Every value is checked before the fields see it (``json_clean``): NUL stripped, and
nesting, integers beyond 64 bits, non-finite numbers and lone surrogates refused with
the field named, so whatever is accepted can be logged, stored and featurized later.
"""

from __future__ import annotations

import json
import math
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from tracking.api.parsers import JsonValueError, json_clean
from tracking.context import url_host
from tracking.visitors import visitor_id_parse

from ..conf import setting
from ..engine.context import DEVICES, UTM_PARAMS
from ..results.selectors import DEFAULT_DAYS, MAX_DAYS, METRICS, metric_get

SCALAR_TYPES = (str, int, float, bool, type(None))
MAX_VISIT_COUNT = 1_000_000
# Attributes become model features (floats): beyond this a number is not a measurement but an attack.
MAX_ATTRIBUTE_NUMBER = 1e12
MAX_ATTRIBUTE_TEXT = 200


def _cleaned(data: Any) -> Any:
    try:
        return json_clean(data)
    except JsonValueError as exc:
        raise serializers.ValidationError(exc.detail()) from None


class ContextInputSerializer(serializers.Serializer):
    device = serializers.ChoiceField(choices=DEVICES, required=False)
    browser = serializers.CharField(max_length=100, required=False)
    os = serializers.CharField(max_length=100, required=False)
    country = serializers.RegexField(
        r"^[A-Za-z]{2}$", required=False, error_messages={"invalid": "Use a two-letter ISO country code."}
    )
    referrer = serializers.CharField(max_length=500, required=False, allow_blank=True)
    query = serializers.DictField(child=serializers.CharField(max_length=200, allow_blank=True), required=False)
    hour = serializers.IntegerField(min_value=0, max_value=23, required=False)
    weekday = serializers.IntegerField(min_value=0, max_value=6, required=False, help_text="Monday is 0.")
    visit_count = serializers.IntegerField(min_value=1, max_value=MAX_VISIT_COUNT, required=False)
    is_returning = serializers.BooleanField(required=False)
    attributes = serializers.DictField(required=False, help_text="Flat object of strings, numbers or booleans.")

    def get_fields(self) -> dict[str, serializers.Field]:
        # utm_source...: one field per UTM parameter the engine knows (its UTM_PARAMS), flat as in a query string.
        utm = {f"utm_{name}": serializers.CharField(max_length=200, required=False) for name in UTM_PARAMS}
        return {**super().get_fields(), **utm}

    def to_internal_value(self, data: Any) -> Any:
        data = _cleaned(data)
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown context field. Allowed: " + ", ".join(self.fields) + "."] for name in unknown}
                )
            size = len(json.dumps(data, default=str))
            limit = setting("API_MAX_CONTEXT_BYTES")
            if size > limit:
                raise serializers.ValidationError(f"Context is {size} bytes; the limit is {limit}.")
        return super().to_internal_value(data)

    def validate_referrer(self, value: str) -> str:
        return value if url_host(value) is not None else ""  # a referrer that does not parse is absent

    def validate_attributes(self, value: dict[str, Any]) -> dict[str, Any]:
        for name, item in value.items():
            if not isinstance(item, SCALAR_TYPES):
                raise serializers.ValidationError(f"Attribute {name!r} must be a string, number or boolean.")
            if len(name) > 64:
                raise serializers.ValidationError("Attribute names are at most 64 characters.")
            if isinstance(item, str) and len(item) > MAX_ATTRIBUTE_TEXT:
                raise serializers.ValidationError(
                    f"Attribute {name!r} is {len(item)} characters; the limit is {MAX_ATTRIBUTE_TEXT}."
                )
            if (
                isinstance(item, int | float)
                and not isinstance(item, bool)
                and not (math.isfinite(item) and abs(item) <= MAX_ATTRIBUTE_NUMBER)
            ):
                raise serializers.ValidationError(
                    f"Attribute {name!r} must be a finite number within ±{MAX_ATTRIBUTE_NUMBER:.0e}."
                )
        return value


@extend_schema_field(OpenApiTypes.UUID)
class VisitorIdField(serializers.CharField):
    """A visitor id by the rules of the cookie and ``X-Tailor-Visitor``, in its one canonical spelling."""

    NOT_A_VISITOR_ID = "Not a visitor id: send a random (version 4) UUID, as the tailor_vid cookie holds."
    default_error_messages = {"invalid": NOT_A_VISITOR_ID, "null": NOT_A_VISITOR_ID, "blank": NOT_A_VISITOR_ID}

    def to_internal_value(self, data: Any) -> str:
        parsed = visitor_id_parse(data) if isinstance(data, str) else None
        if parsed is None:
            self.fail("invalid")
        return parsed


class StrictBooleanField(serializers.BooleanField):
    """true or false as JSON says them: DRF's BooleanField would also take "yes", "on" or 1."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data is True


class DecisionsInputSerializer(serializers.Serializer):
    slots = serializers.ListField(child=serializers.SlugField(max_length=64), allow_empty=False)
    context = ContextInputSerializer(required=False)
    visitor_id = VisitorIdField(
        required=False, help_text="Defaults to the tailor_vid cookie or X-Tailor-Visitor header."
    )
    explain = StrictBooleanField(
        required=False,
        default=False,
        help_text="true: each decision also says why it was made (its explanation).",
    )

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(_cleaned(data))

    def validate_slots(self, value: list[str]) -> list[str]:
        limit = setting("API_MAX_SLOTS")
        if len(value) > limit:
            raise serializers.ValidationError(f"Ask for at most {limit} slots per request, not {len(value)}.")
        live = self.context["live_slots"]
        errors = {i: [f"Unknown slot key {key!r}."] for i, key in enumerate(value) if key not in live}
        if errors:
            raise serializers.ValidationError(errors)
        return list(dict.fromkeys(value))


class VariantOutputSerializer(serializers.Serializer):
    key = serializers.CharField()
    template = serializers.CharField()
    params = serializers.DictField()


class FeatureEffectSerializer(serializers.Serializer):
    feature = serializers.CharField(help_text='The model\'s column: "device", "f_avg_dwell_s", "v_has_badge".')
    label = serializers.CharField(help_text='In editor words: "Device".')
    value = serializers.CharField(help_text='The visitor\'s or the variant\'s value: "mobile"; "unknown" if missing.')
    contribution = serializers.FloatField(
        help_text="Its push on the chosen variant's score in log-odds (LightGBM's pred_contrib), relative to the "
        "mean over the candidates: positive pushed it up, negative held it back."
    )
    direction = serializers.ChoiceField(choices=["up", "down"])
    words = serializers.CharField(help_text='e.g. "Device: mobile (pushed this variant up)".')


class ExplanationSerializer(serializers.Serializer):
    policy = serializers.CharField(
        help_text="What chose: fixed, rules, split, bandit, model, experiment, holdout, capped, no-consent, ..."
    )
    policy_version = serializers.CharField(help_text="The model version, bandit allocation or experiment key.")
    reason = serializers.CharField(allow_blank=True, help_text='As logged: "segment:mobile", "explore", "split".')
    share = serializers.FloatField(help_text="The chosen variant's probability under what chose it (propensity).")
    summary = serializers.CharField(help_text="Why, in one or two sentences.")
    segment = serializers.CharField(allow_null=True, help_text="The segment of the rule or allocation that applied.")
    segment_name = serializers.CharField(allow_null=True)
    experiment = serializers.CharField(allow_null=True, help_text="The experiment's key, for an experiment's arm.")
    score = serializers.FloatField(allow_null=True, help_text="A model's predicted reward for the chosen variant.")
    features = FeatureEffectSerializer(many=True, help_text="A model's top features, the largest push first.")
    relative_to = serializers.IntegerField(
        help_text="How many candidates the contributions are relative to (0: no model; 1: absolute)."
    )
    note = serializers.CharField(allow_null=True, help_text="What could not be recomputed, if anything.")


class DecisionOutputSerializer(serializers.Serializer):
    slot = serializers.CharField()
    decision_id = serializers.CharField()
    variant = VariantOutputSerializer()
    propensity = serializers.FloatField()
    policy = serializers.CharField()
    html = serializers.CharField()
    explanation = ExplanationSerializer(required=False, help_text='Only with "explain": true.')


class DecisionsOutputSerializer(serializers.Serializer):
    visitor_id = serializers.CharField()
    decisions = DecisionOutputSerializer(many=True)


class SlotResultsInputSerializer(serializers.Serializer):
    """The query string of ``GET /api/v1/slots/<key>/results/``."""

    days = serializers.IntegerField(
        min_value=1,
        max_value=MAX_DAYS,
        required=False,
        help_text=f"The last N days (UTC), today included; {DEFAULT_DAYS} by default.",
    )
    metric = serializers.CharField(
        max_length=80,
        required=False,
        help_text=f"One of {', '.join(METRICS)}; or goal:<goal key> (the share of visitors who reached that goal "
        "after exposure) or goal_value:<goal key> (that goal's value per visitor). Default: conversion_rate for a "
        "slot rewarded on conversions, else click_rate.",
    )
    experiment = serializers.SlugField(
        max_length=32,
        required=False,
        help_text="An experiment's key: the results of its variants only, over its own window (its primary "
        "metric by default), with the sample-ratio check against its configured split.",
    )
    cuped = serializers.BooleanField(
        required=False,
        default=True,
        help_text="CUPED: adjust the comparisons for the visitors' prior visits where the data allows (default); "
        "cuped=0 compares the raw figures.",
    )

    def validate_metric(self, value: str) -> str:
        try:
            metric_get(value)
        except ValueError as error:
            # The selector's message starts with the field's name, which the 400 body already carries.
            raise serializers.ValidationError(str(error).removeprefix("metric: ")) from None
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("experiment") and "days" in attrs:
            raise serializers.ValidationError(
                {"days": "An experiment's results cover its own window, from its start: omit days."}
            )
        return attrs


def _interval(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.FloatField(), min_length=2, max_length=2, allow_null=True, help_text=help_text
    )


class ResultsVariantSerializer(serializers.Serializer):
    key = serializers.CharField()
    visitors = serializers.IntegerField(help_text="Visitors who saw the variant (each counted once).")
    conversions = serializers.FloatField(help_text="Visitors who clicked or converted; for a mean, the sum of values.")
    rate = serializers.FloatField(allow_null=True, help_text="The rate, or the mean per visitor.")
    ci95 = _interval("95 % interval of the rate or mean.")


class ResultsComparisonSerializer(serializers.Serializer):
    variant = serializers.CharField()
    control = serializers.CharField()
    lift = serializers.FloatField(allow_null=True, help_text="Relative: variant / control - 1.")
    lift_ci95 = _interval("Fixed-horizon 95 % interval of the lift.")
    p_value = serializers.FloatField(allow_null=True, help_text="Adjusted across the variants (Holm).")
    sequential_ci95 = _interval("Always-valid 95 % confidence sequence of the lift: safe to look at any time.")
    chance_to_beat = serializers.FloatField(allow_null=True)
    expected_loss = serializers.FloatField(allow_null=True, help_text="Of shipping the variant, per visitor.")


class ResultsWindowSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()


class ResultsGuardrailSerializer(serializers.Serializer):
    metric = serializers.CharField()
    variant = serializers.CharField()
    lift = serializers.FloatField(allow_null=True)
    worse = serializers.BooleanField(help_text="Significantly worse than control (always-valid test, 5 %).")


class ResultsExperimentSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=["draft", "scheduled", "running", "ended", "stopped"])
    share = serializers.FloatField(help_text="Share of the slot's visitors in the experiment.")
    split = serializers.DictField(child=serializers.FloatField(), help_text="Each variant's configured share.")
    minimum_sample = serializers.IntegerField(help_text="Visitors per variant.")
    starts_at = serializers.DateTimeField()
    stops_at = serializers.DateTimeField(help_text="Its stop, or the end of its maximum duration.")
    guardrails = ResultsGuardrailSerializer(many=True)


class FactorialFactorSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The variant parameter the factor varies (headline, cta_label, ...).")
    levels = serializers.ListField(child=serializers.JSONField(), help_text="Its levels, the baseline first.")


class FactorialCellSerializer(serializers.Serializer):
    key = serializers.CharField(allow_null=True, help_text="The combination's variant key.")
    levels = serializers.DictField(child=serializers.JSONField(), help_text="Factor -> level.")
    visitors = serializers.IntegerField()
    mean = serializers.FloatField(allow_null=True, help_text="The rate, or the mean per visitor; null if no visitors.")


class FactorialTermLevelSerializer(serializers.Serializer):
    factor = serializers.CharField()
    level = serializers.JSONField()
    baseline = serializers.JSONField()


class FactorialTermSerializer(serializers.Serializer):
    name = serializers.CharField(
        help_text='e.g. "headline[Free shipping]" or "headline[Free shipping]:cta_label[Buy]".'
    )
    kind = serializers.ChoiceField(choices=["main", "interaction"])
    levels = FactorialTermLevelSerializer(many=True)
    estimable = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True, help_text="Why figures are missing, if they are.")
    estimate = serializers.FloatField(
        allow_null=True, help_text="Level vs baseline (points of rate, or per visitor), averaged over other factors."
    )
    standard_error = serializers.FloatField(allow_null=True)
    ci95 = _interval("Fixed-horizon 95 % interval of the estimate.")
    p_value = serializers.FloatField(allow_null=True, help_text="Fixed-horizon, unadjusted.")
    p_value_adjusted = serializers.FloatField(allow_null=True, help_text="Adjusted across the terms (Holm).")
    sequential_ci95 = _interval("Always-valid 95 % confidence sequence of the estimate.")
    sequential_p_value = serializers.FloatField(allow_null=True, help_text="Always-valid, adjusted across the terms.")


class FactorialInteractionTestSerializer(serializers.Serializer):
    f_statistic = serializers.FloatField(allow_null=True)
    df_numerator = serializers.IntegerField()
    df_denominator = serializers.IntegerField()
    p_value = serializers.FloatField(allow_null=True, help_text="Are interactions needed beyond the main effects?")
    reason = serializers.CharField(allow_null=True)


class ResultsFactorialSerializer(serializers.Serializer):
    slot = serializers.CharField()
    window = ResultsWindowSerializer()
    metric = serializers.CharField()
    kind = serializers.ChoiceField(choices=["rate", "mean"])
    coding = serializers.CharField(help_text="How a term is read: each level vs the factor's first level.")
    factors = FactorialFactorSerializer(many=True)
    cells = FactorialCellSerializer(many=True)
    visitors = serializers.IntegerField()
    intercept = serializers.FloatField(allow_null=True, help_text="The mean of the combinations' means.")
    df_residual = serializers.IntegerField()
    residual_variance = serializers.FloatField(allow_null=True)
    covariance = serializers.ChoiceField(choices=["classical", "hc2"])
    correction = serializers.CharField()
    terms = FactorialTermSerializer(many=True, help_text="Main effects first, then interactions.")
    interaction_test = FactorialInteractionTestSerializer()
    words = serializers.ListField(
        child=serializers.CharField(), help_text="One sentence per factor level, then one on interactions."
    )
    verdict = serializers.CharField()


class ResultsCupedSerializer(serializers.Serializer):
    covariate = serializers.CharField(help_text='What the comparisons are adjusted for: "prior visits".')
    applied = serializers.BooleanField(
        help_text="Whether the lift, its intervals, the p-values and the verdict are CUPED-adjusted."
    )
    variance_reduction = serializers.FloatField(
        allow_null=True, help_text="Share of the comparisons' variance CUPED removed (0.3: 30 %); null if not applied."
    )
    reason = serializers.CharField(allow_null=True, help_text="Why CUPED was not applied; null if it was.")


class SlotResultsOutputSerializer(serializers.Serializer):
    slot = serializers.CharField()
    window = ResultsWindowSerializer()
    metric = serializers.CharField()
    control = serializers.CharField(allow_null=True)
    srm_p_value = serializers.FloatField(
        allow_null=True, help_text="Sample-ratio mismatch test; null where no split was configured."
    )
    variants = ResultsVariantSerializer(many=True)
    comparisons = ResultsComparisonSerializer(many=True)
    verdict = serializers.CharField()
    experiment = ResultsExperimentSerializer(required=False, help_text="Only with ?experiment=<key>.")
    factorial = ResultsFactorialSerializer(
        required=False,
        help_text="Only for a multivariate experiment: each factor's main effect and the interactions, over the "
        "experiment's own visitors (a regression on visitor-level outcomes).",
    )
    cuped = ResultsCupedSerializer(help_text="CUPED's adjustment for the visitors' prior visits (see ?cuped).")
