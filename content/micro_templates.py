"""Micro-templates: the small, registered HTML shapes a variant can take.

Each micro-template names the parameter fields an editor fills in and the
Django template (our code, never editor text) that renders them. Adding one is
a ``register(MicroTemplate(...))`` call plus a template file; it then appears
in the variant editor's block menu.
"""

from __future__ import annotations

from dataclasses import dataclass

PARAM_FIELDS = ("headline", "body", "cta_label", "cta_url", "image", "badge", "position")


@dataclass(frozen=True)
class MicroTemplate:
    key: str
    label: str
    template: str
    fields: tuple[str, ...]
    icon: str = "doc-full"

    def __post_init__(self) -> None:
        unknown = set(self.fields) - set(PARAM_FIELDS)
        if unknown:
            raise ValueError(f"Micro-template {self.key!r} names unknown fields: {', '.join(sorted(unknown))}.")


_REGISTRY: dict[str, MicroTemplate] = {}


def register(micro_template: MicroTemplate) -> MicroTemplate:
    _REGISTRY[micro_template.key] = micro_template
    return micro_template


def get(key: str) -> MicroTemplate:
    return _REGISTRY[key]


def all_templates() -> list[MicroTemplate]:
    return list(_REGISTRY.values())


register(
    MicroTemplate(
        "hero",
        "Hero",
        "content/micro/hero.html",
        ("headline", "body", "cta_label", "cta_url", "image", "badge", "position"),
        icon="image",
    )
)
register(
    MicroTemplate(
        "cta_banner",
        "Call-to-action banner",
        "content/micro/cta_banner.html",
        ("headline", "body", "cta_label", "cta_url", "badge", "position"),
        icon="link",
    )
)
register(
    MicroTemplate(
        "product_card",
        "Product card",
        "content/micro/product_card.html",
        ("headline", "body", "image", "badge", "cta_label", "cta_url", "position"),
        icon="tag",
    )
)
register(
    MicroTemplate(
        "notice",
        "Notice",
        "content/micro/notice.html",
        ("headline", "body", "badge", "position"),
        icon="info-circle",
    )
)
