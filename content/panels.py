"""Admin panels for the slot editor."""

from __future__ import annotations

from typing import Any

from wagtail.admin.panels import Panel

from . import micro_templates


def _template_label(key: str) -> str:
    try:
        return micro_templates.get(key).label
    except KeyError:
        return key


class TargetingSummaryPanel(Panel):
    """Read-only overview: each variant with its status and weight, and the targeting table in order."""

    class BoundPanel(Panel.BoundPanel):
        template_name = "content/panels/targeting_summary.html"

        def get_context_data(self, parent_context: Any = None) -> dict[str, Any]:
            context = super().get_context_data(parent_context)
            slot = self.instance
            variants = list(slot.variants.all()) if slot.pk or hasattr(slot, "variants") else []
            total = sum(v.weight for v in variants if not v.is_paused) or 1
            by_key = {v.key: v for v in variants}
            rules = []
            for position, rule in enumerate(slot.rules or [], start=1):
                variant = by_key.get(rule.value["variant"])
                rules.append(
                    {
                        "position": position,
                        "segment": rule.value.get("segment"),
                        "variant_key": rule.value["variant"],
                        "variant": variant,
                    }
                )
            context.update(
                {
                    "slot": slot,
                    "variants": [
                        {
                            "variant": v,
                            "template_label": _template_label(v.template_key),
                            "share": (v.weight / total * 100) if not v.is_paused else 0,
                        }
                        for v in variants
                    ],
                    "rules": rules,
                    "default_key": slot.default_variant or (variants[0].key if variants else ""),
                }
            )
            return context
