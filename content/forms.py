"""The slot editor form: checks that keys, the default and the targeting table agree."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from wagtail.admin.forms import WagtailAdminModelForm

# Settings an editor may leave blank: blank means the model's default (for the holdout, none).
DEFAULTED_FIELDS = (
    "holdout_share",
    "igw_gamma",
    "retrain_every",
    "bandit_floor",
    "bandit_discount",
    "guardrail_action",
    "guardrail_metrics",
    "guardrail_alpha",
    "guardrail_min_drop",
    "cap_per_day",
    "cap_per_visit",
    "novelty_after",
    "novelty_decay",
)


class SlotForm(WagtailAdminModelForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in DEFAULTED_FIELDS:
            if name in self.fields:
                self.fields[name].required = False

    def clean(self):
        cleaned = super().clean()
        for name in DEFAULTED_FIELDS:
            if name in self.fields and cleaned.get(name) in (None, ""):
                cleaned[name] = self._meta.model._meta.get_field(name).get_default()
        formset = self.formsets.get("variants")
        if formset is None or not hasattr(formset, "cleaned_data"):
            return cleaned
        keys: list[str] = []
        for form in formset.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE"):
                continue
            key = data.get("key")
            if key in keys:
                form.add_error("key", f"Another variant of this slot already uses the key “{key}”.")
            elif key:
                keys.append(key)
        default = cleaned.get("default_variant")
        if default and keys and default not in keys:
            self.add_error("default_variant", f"No variant has the key “{default}”. Use one of: {', '.join(keys)}.")
        if cleaned.get("reward") == "weighted" and not (
            cleaned.get("click_weight") or cleaned.get("conversion_weight")
        ):
            self.add_error("conversion_weight", "A weighted reward needs a click or conversion weight above 0.")
        if cleaned.get("reward") == "value" and cleaned.get("strategy") != "bandit":
            # Only the bandit models a value (Gaussian); the model strategy predicts clicks or conversions.
            self.add_error("reward", "A conversion value reward works only with the bandit strategy.")
        rules = cleaned.get("rules") or []
        unknown = sorted({rule.value["variant"] for rule in rules if rule.value["variant"] not in keys})
        if unknown and keys:
            self.add_error(
                "rules",
                ValidationError(f"Rules name variants this slot does not have: {', '.join(unknown)}."),
            )
        return cleaned
