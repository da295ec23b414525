"""The experiment editor form: checks that variants, traffic, metrics and schedule make a runnable experiment.

Errors name the field they are about, as the slot form's do. The form reads the slot's
published variants (the slot row is its published state) and the other published
experiments of the slot, so that at most one runs on a slot at any time.
"""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from wagtail.admin.forms import WagtailAdminModelForm


def metric_choices() -> list[tuple[str, str]]:
    """The built-in metrics, then each published goal's rate and value per visitor (read when the form is shown)."""
    # Imported here: the results selectors import the models, which import this form.
    from personalization.results.selectors import metric_names, metric_title

    return [
        (key, metric_title(key, metric) if metric.goal else f"{key.replace('_', ' ').capitalize()} ({metric.label})")
        for key, metric in metric_names()
    ]


class ListField(forms.CharField):
    """A list typed as comma-separated text: "a, b, c"."""

    def __init__(self, *, number: bool = False, **kwargs: Any) -> None:
        self.number = number
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(_plain(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[Any]:
        if isinstance(value, list | tuple):
            return list(value)
        text = super().to_python(value)
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not self.number:
            return items
        numbers = []
        for item in items:
            try:
                number = float(item)
            except ValueError:
                raise ValidationError(f"“{item}” is not a number.") from None
            if not (math.isfinite(number) and number > 0):
                raise ValidationError(f"Every weight must be a number above 0, got “{item}”.")
            numbers.append(number)
        return numbers


def _plain(item: Any) -> str:
    return f"{item:g}" if isinstance(item, float) else str(item)


class FactorsField(forms.CharField):
    """Multivariate factors typed one per line, ``name: level | level``; the stored design shown back as lines."""

    def prepare_value(self, value: Any) -> Any:
        from personalization.multivariate import design_from_json, factors_format

        if isinstance(value, dict | list):
            design = design_from_json(value)
            return factors_format(design.factors) if design else ""
        return value


class ExperimentForm(WagtailAdminModelForm):
    variants = ListField(
        required=False,
        help_text="Variant keys of the slot, comma-separated, the control first: e.g. “a, b, c”. "
        "A multivariate experiment fills this in with “Generate combinations”.",
    )
    base_variant = forms.SlugField(
        required=False,
        label="Base variant",
        help_text="Multivariate only: the key of the slot's variant whose micro-template and parameters every "
        "combination starts from.",
    )
    factors = FactorsField(
        required=False,
        label="Factors",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Multivariate only: one parameter of the base variant per line, a colon, then its levels "
        "separated by “|”, the baseline first, e.g. “headline: Save 10% | Free shipping” and “cta_label: Buy | "
        "Shop now”. An image level is the image's id. At most 64 combinations. Save, then use “Generate "
        "combinations” (at the top of this screen) to add them to the slot as variants; after changing the "
        "factors, generate again.",
    )
    weights = ListField(
        number=True,
        required=False,
        help_text="Relative traffic per variant, in the same order: e.g. “50, 25, 25”. Blank: equal shares.",
    )
    primary_metric = forms.ChoiceField(choices=metric_choices, help_text="What decides the experiment.")
    guardrail_metrics = forms.MultipleChoiceField(
        choices=metric_choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Watched for harm: the results warn when one of these gets worse.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stored = getattr(self.instance, "factors", None)
        if "base_variant" in self.fields and isinstance(stored, dict):
            self.fields["base_variant"].initial = stored.get("base", "")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        slot = cleaned.get("slot")
        variants = cleaned.get("variants")
        multivariate = self._factors_clean(slot, cleaned) if "factors" in self.fields else False
        if multivariate and not variants:
            if "action-publish" in self.data:
                self.add_error(
                    "variants",
                    "Generate the combinations (“Generate combinations” at the top of this screen) before publishing.",
                )
        elif slot is not None and variants is not None:
            self._variants_check(slot, variants)
            if multivariate:
                self._combinations_check(variants)
        weights = cleaned.get("weights")
        if weights and variants and len(weights) != len(variants):
            self.add_error(
                "weights", f"Give one weight per variant: {len(weights)} weights for {len(variants)} variants."
            )
        share = cleaned.get("share")
        if share is not None and not (math.isfinite(share) and 0 < share <= 1):
            self.add_error(
                "share", f"The traffic share must be above 0 and at most 1 (1 = every visitor), got {share:g}."
            )
        starts_at, ends_at = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts_at and ends_at and ends_at <= starts_at:
            self.add_error("ends_at", "The stop time must be after the start time.")
        if slot is not None and starts_at and not self.errors:
            self._overlap_check(slot, cleaned)
        return cleaned

    def _factors_clean(self, slot: Any, cleaned: dict[str, Any]) -> bool:
        """Check the factors against the base variant and store the design in ``factors``; whether there is one."""
        from personalization.multivariate import Design, design_from_json, design_to_json, factors_check, factors_parse

        text = cleaned.get("factors") or ""
        base_key = cleaned.get("base_variant") or ""
        if not isinstance(text, str) or not text.strip():
            if base_key:
                self.add_error("factors", "Declare at least one factor, or leave the base variant blank.")
            cleaned["factors"] = []
            return False
        previous = design_from_json(self.instance.factors)
        factors, problems = factors_parse(text)
        if not base_key:
            self.add_error("base_variant", "A multivariate experiment needs the key of the variant to start from.")
        elif slot is not None:
            base = next((v for v in slot.variants.all() if v.key == base_key), None)
            if base is None:
                keys = ", ".join(v.key for v in slot.variants.all()) or "none"
                self.add_error(
                    "base_variant", f"The slot “{slot.key}” has no variant {base_key}. Its variants: {keys}."
                )
            elif not problems:
                factors, problems = factors_check(base, factors)
        for problem in problems:
            self.add_error("factors", problem)
        cleaned["factors"] = design_to_json(
            Design(
                base=base_key,
                factors=tuple(factors),
                generated=previous.generated if previous else (),
                combinations=previous.combinations if previous else (),
            )
        )
        return True

    def _combinations_check(self, variants: list[str]) -> None:
        """A multivariate experiment's arms are the combinations last generated, the baseline first."""
        from personalization.multivariate import design_from_json

        previous = design_from_json(self.instance.factors)
        keys = [key for key, _levels in previous.combinations] if previous else []
        if keys and (sorted(variants) != sorted(keys) or variants[0] != keys[0]):
            self.add_error(
                "variants",
                "A multivariate experiment serves every combination generated, the baseline first: "
                f"{', '.join(keys)}. Change the factors and generate again rather than editing this list.",
            )

    def _variants_check(self, slot: Any, variants: list[str]) -> None:
        live = [v.key for v in slot.variants.all() if not v.is_paused]
        paused = {v.key for v in slot.variants.all() if v.is_paused}
        if len(variants) < 2:
            self.add_error("variants", "An experiment needs at least two variants: the control first, then the others.")
            return
        repeated = sorted({key for key in variants if variants.count(key) > 1})
        if repeated:
            self.add_error("variants", f"Each variant once: {', '.join(repeated)} appears more than once.")
        unknown = [key for key in variants if key not in live]
        if unknown:
            words = ", ".join(f"{key} (paused)" if key in paused else key for key in unknown)
            self.add_error(
                "variants",
                f"The slot “{slot.key}” has no live variant {words}. Its live variants: {', '.join(live) or 'none'}.",
            )

    def _overlap_check(self, slot: Any, cleaned: dict[str, Any]) -> None:
        """At most one experiment runs on a slot: none of its other published ones may overlap this one."""
        from datetime import timedelta

        starts_at = cleaned["starts_at"]
        limit = starts_at + timedelta(days=cleaned.get("max_days") or 1)
        stops_at = min(cleaned["ends_at"], limit) if cleaned.get("ends_at") else limit
        others = type(self.instance).objects.filter(slot=slot, live=True).exclude(pk=self.instance.pk)
        for other in others:
            if other.starts_at < stops_at and starts_at < other.stops_at:
                self.add_error(
                    "starts_at",
                    f"The experiment “{other.name}” ({other.key}) runs on this slot from"
                    f" {other.starts_at:%Y-%m-%d %H:%M} to {other.stops_at:%Y-%m-%d %H:%M} UTC; one experiment"
                    " at a time per slot: stop it, or start this one after it.",
                )
                return
