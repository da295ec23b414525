"""Template tags: ``{% personalize "slot-key" %}`` and ``{% personalize "slot-key" as choice %}``."""

from __future__ import annotations

from typing import Any

from django import template

from personalization.serving.render import slot_render

register = template.Library()


@register.simple_tag(takes_context=True)
def personalize(context: template.Context, slot_key: str) -> Any:
    """Render the visitor's variant of a slot (or, with ``as``, expose it: ``choice.key``, ``choice.params``)."""
    return slot_render(str(slot_key), context.get("request"))
