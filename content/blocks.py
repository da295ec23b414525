"""StreamField blocks: variant parameters, the SlotBlock, and demo page blocks.

A variant's parameters are a StreamField (``content.fields``) holding exactly
one block whose type is the micro-template (hero, banner, ...), so the editor
chooses the shape and then sees only the fields that shape uses. ``SlotBlock``
stores a slot *key* and asks the registered slot renderer (personalization) for
the visitor's variant at render time; content never decides anything itself.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.functional import cached_property
from wagtail import blocks
from wagtail.images.blocks import ImageChooserBlock
from wagtail.snippets.blocks import SnippetChooserBlock

from . import micro_templates, slot_renderer
from .links import link_allowed, link_scheme

POSITION_CHOICES = [
    ("default", "Default"),
    ("left", "Media left"),
    ("right", "Media right"),
    ("top", "Media on top"),
    ("center", "Centred"),
]


def validate_link(value: str) -> None:
    """Absolute http(s)/mailto/tel links or site-relative paths only: never ``javascript:``.

    The same allow-list is applied again at render time (``content.links``); the
    form is stricter about shape, so an editor's typo is caught here.
    """
    if not value:
        return
    message = "Enter a site path such as /offers/ or a full http(s), mailto: or tel: link."
    scheme = link_scheme(value)
    if not link_allowed(value) or value != value.strip():
        raise ValidationError(message)
    if scheme is None:
        if not value.startswith(("/", "#", "?")):
            raise ValidationError(message)
        return
    if scheme in ("mailto", "tel"):
        return
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        raise ValidationError(message) from None


class LinkBlock(blocks.CharBlock):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validators=[validate_link], max_length=500, **kwargs)


def _param_block(field: str) -> blocks.Block:
    return {
        "headline": lambda: blocks.CharBlock(
            max_length=200,
            help_text=(
                "May use {visitor.first_name|there} (the text after | shows without a name); words inside the"
                " braces show only with a name: Welcome back{, visitor.first_name|}!"
            ),
        ),
        "body": lambda: blocks.RichTextBlock(required=False, features=["bold", "italic", "link"]),
        "cta_label": lambda: blocks.CharBlock(required=False, max_length=80, label="Call-to-action label"),
        "cta_url": lambda: LinkBlock(required=False, label="Call-to-action link"),
        "image": lambda: ImageChooserBlock(required=False),
        "badge": lambda: blocks.CharBlock(required=False, max_length=60, help_text="Badge or discount text."),
        "position": lambda: blocks.ChoiceBlock(choices=POSITION_CHOICES, default="default", label="Layout"),
    }[field]()


class MicroTemplateBlock(blocks.StructBlock):
    """The parameters of one micro-template; rendered by its registered template."""

    def __init__(self, micro_template: micro_templates.MicroTemplate, **kwargs: Any) -> None:
        child_blocks = [(name, _param_block(name)) for name in micro_template.fields]
        super().__init__(child_blocks, label=micro_template.label, icon=micro_template.icon, **kwargs)
        self.micro_template_key = micro_template.key

    def deconstruct(self) -> tuple[str, tuple, dict]:
        return ("content.blocks.micro_template_block", (self.micro_template_key,), {})

    def get_comparison_class(self) -> type:
        from .compare import ChangedParamsComparison  # the revision compare screen shows changed parameters only

        return ChangedParamsComparison

    def render(self, value: Any, context: dict | None = None) -> str:
        from .rendering import params_from_block_value, template_render

        return template_render(self.micro_template_key, params_from_block_value(value))


def micro_template_block(key: str, **kwargs: Any) -> MicroTemplateBlock:
    return MicroTemplateBlock(micro_templates.get(key), **kwargs)


def slot_choices() -> list[tuple[str, str]]:
    from .models import Slot

    return [(key, f"{name} ({key})") for key, name in Slot.objects.order_by("name").values_list("key", "name")]


class SlotBlock(blocks.FieldBlock):
    """Place a slot: stores the slot key, renders the visitor's variant.

    Storing the key (not a foreign key) keeps rendering free of queries and the
    page valid if a slot is deleted: a missing slot renders nothing.
    """

    def __init__(self, required: bool = True, help_text: str | None = None, **kwargs: Any) -> None:
        self._required = required
        self._help_text = help_text
        super().__init__(**kwargs)

    @cached_property
    def field(self) -> Any:
        from django import forms

        return forms.ChoiceField(
            choices=lambda: [("", "---------"), *slot_choices()],
            required=self._required,
            help_text=self._help_text,
        )

    def get_prep_value(self, value: Any) -> str:
        return value or ""

    def to_python(self, value: Any) -> str:
        return value or ""

    def deconstruct(self) -> tuple[str, tuple, dict]:
        return ("content.blocks.SlotBlock", (), {})

    def render(self, value: str, context: dict | None = None) -> str:
        request = (context or {}).get("request")
        return slot_renderer.get().render(value, request)

    def get_api_representation(self, value: str, context: dict | None = None) -> Any:
        request = (context or {}).get("request")
        return slot_renderer.get().represent(value, request)

    class Meta:
        icon = "crosshairs"
        label = "Personalized slot"


class RuleBlock(blocks.StructBlock):
    """One row of a slot's targeting table: visitors in this segment see this variant."""

    segment = SnippetChooserBlock("personalization.Segment")
    variant = blocks.CharBlock(max_length=64, help_text="Key of the variant to show.")

    class Meta:
        icon = "arrow-right"
        label = "Segment → variant"


def page_blocks() -> list[tuple[str, blocks.Block]]:
    return [
        ("heading", blocks.CharBlock(form_classname="title", icon="title")),
        ("paragraph", blocks.RichTextBlock(icon="pilcrow")),
        ("slot", SlotBlock()),
        # The shipped micro-templates only: these blocks are frozen into migrations.
        *[(f"static_{mt.key}", MicroTemplateBlock(mt)) for mt in micro_templates.BUILTIN],
    ]
