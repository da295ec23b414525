"""The slot editor form: checks that keys, the default and the targeting table agree.

It also tells the editor's script (``content/slot_editor.js``) which settings apply to which strategy:
``shown_when`` puts a condition on a panel (``data-tailor-show-when``) and the script hides the panels
whose condition the form's current values do not meet, live as the strategy changes. Without the script
every field shows, and every value is still posted and checked here.
"""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError
from wagtail import hooks
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

# The metrics a guardrail may watch are personalization's (its results metrics): a function registered under
# this name returns their names, so the form can refuse a misspelt one without content importing them.
GUARDRAIL_METRICS_HOOK = "tailor_guardrail_metrics"


# Which strategies use a setting (the engine reads it only for these): the editor shows it for them alone.
ALL_STRATEGIES = ("fixed", "split", "rules", "model", "bandit")
LEARNING = ("model", "bandit")


def shown_when(**conditions: tuple[str, ...] | str) -> dict[str, str]:
    """Panel attributes: show the panel only while each named field has one of the given values."""
    values = {name: [value] if isinstance(value, str) else list(value) for name, value in conditions.items()}
    return {"data-tailor-show-when": json.dumps(values, separators=(",", ":"))}


KEY_EXAMPLE = "your-slot-key"


def key_help(key: str) -> str:
    """The key's help text, with this slot's own key (a new slot: a placeholder) in the template tag."""
    return f'Used in templates: {{% personalize "{key or KEY_EXAMPLE}" %}}.'


class SlotForm(WagtailAdminModelForm):
    class Media:
        js = ["content/slot_editor.js"]
        css = {"all": ["content/slot_editor.css"]}

    bandit_context = forms.MultipleChoiceField(
        label="Learn per combination of",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "Bandit: learn apart for every combination of these (at most 3), e.g. device and campaign source"
            " when the favourite depends on both. Rule segments still come first."
        ),
    )

    def __init__(self, *args, **kwargs):
        from .models import BANDIT_CONTEXT_CHOICES  # the models import this form

        super().__init__(*args, **kwargs)
        if "bandit_context" in self.fields:
            self.fields["bandit_context"].choices = BANDIT_CONTEXT_CHOICES
        for name in DEFAULTED_FIELDS:
            if name in self.fields:
                self.fields[name].required = False
        if "key" in self.fields:
            self.fields["key"].help_text = key_help(self.instance.key if self.instance else "")
            self.fields["key"].widget.attrs["data-tailor-key-example"] = KEY_EXAMPLE
        if "default_variant" in self.fields:
            # The script turns this typed key into a chooser among the form's variants (blank: first live one).
            self.fields["default_variant"].widget.attrs["data-tailor-variant-key"] = "The first live variant"

    def clean_bandit_context(self):
        from .models import BANDIT_CONTEXT_MAX

        chosen = self.cleaned_data.get("bandit_context") or []
        if len(chosen) > BANDIT_CONTEXT_MAX:
            raise ValidationError(
                f"Choose at most {BANDIT_CONTEXT_MAX}: every combination is learned apart, so each one more"
                " multiplies the visitors the bandit needs."
            )
        return list(chosen)

    def clean(self):
        cleaned = super().clean()
        for name in DEFAULTED_FIELDS:
            if name in self.fields and cleaned.get(name) in (None, ""):
                cleaned[name] = self._meta.model._meta.get_field(name).get_default()
        self._guardrail_metrics_check(cleaned)
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

    def _guardrail_metrics_check(self, cleaned):
        if "guardrail_metrics" not in self.fields:
            return
        metrics = cleaned.get("guardrail_metrics")
        if not isinstance(metrics, list) or not all(isinstance(name, str) for name in metrics):
            self.add_error("guardrail_metrics", 'A list of metric names, e.g. ["click_rate"].')
            return
        known = [name for fn in hooks.get_hooks(GUARDRAIL_METRICS_HOOK) for name in fn()]
        unknown = [name for name in metrics if name not in known]
        if known and unknown:
            self.add_error(
                "guardrail_metrics",
                f"Unknown metric{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. Use: {', '.join(known)}.",
            )
