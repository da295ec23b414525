"""The StreamField of a variant's parameters: one block per micro-template, the shipped ones and the site's.

Wagtail builds a StreamField's blocks once, when the model is imported, and freezes them
into migrations; a site's micro-templates would then need a migration in Tailor's own app,
which a site cannot ship. ``MicroTemplateField`` resolves its blocks when used, from the
micro-templates configured then, and describes itself to migrations as the StreamField of
the shipped micro-templates that Tailor's migrations already hold.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from wagtail.blocks import BlockField, BlockWidget, StreamBlock
from wagtail.blocks.definition_lookup import BlockDefinitionLookupBuilder
from wagtail.fields import StreamField

from . import micro_templates
from .blocks import MicroTemplateBlock


class MicroTemplateField(StreamField):
    """A StreamField whose block types are the micro-templates, looked up when the field is used.

    A site's micro-templates are configuration, like its template files: adding one changes
    no migration. The price: a historical model in a data migration knows only the shipped
    micro-templates (a stored block of another type reads as empty there).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Migrations and Field.clone() pass back the frozen blocks of deconstruct(); the live ones come later.
        kwargs.pop("block_lookup", None)
        super().__init__(None, **kwargs)
        self._block: StreamBlock | None = None
        self._block_templates: tuple[micro_templates.MicroTemplate, ...] = ()

    @property  # StreamField's is a cached_property: built once, from the templates at import
    def stream_block(self) -> StreamBlock:
        templates = micro_templates.all_templates()
        block = self._block
        if block is None or templates is not self._block_templates:
            block = StreamBlock([(mt.key, MicroTemplateBlock(mt)) for mt in templates])
            block.set_meta_options(self.block_opts)
            self._block, self._block_templates = block, templates
        return block

    def formfield(self, **kwargs: Any) -> Any:
        # The admin builds its form class once, when its URLs are loaded: a form field holding
        # the blocks of that moment would miss a micro-template configured later.
        return models.Field.formfield(self, **{"form_class": MicroTemplateFormField, "model_field": self, **kwargs})

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, _path, _args, kwargs = models.Field.deconstruct(self)
        lookup = BlockDefinitionLookupBuilder()
        block_types = [(mt.key, lookup.add_block(MicroTemplateBlock(mt))) for mt in micro_templates.BUILTIN]
        kwargs["block_lookup"] = lookup.get_lookup_as_dict()
        return name, "wagtail.fields.StreamField", [block_types], kwargs

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        try:
            self.stream_block  # noqa: B018
        except ImproperlyConfigured:
            # content.E001 reports what is wrong with the setting; checking the blocks would only crash.
            errors: list[checks.CheckMessage] = models.Field.check(self, **kwargs)
        else:
            errors = super().check(**kwargs)
        return errors


class MicroTemplateWidget(BlockWidget):
    """Wagtail's block widget over the field's current blocks, packed again when they change."""

    def __init__(self, model_field: MicroTemplateField, attrs: Any = None) -> None:
        forms.Widget.__init__(self, attrs=attrs)
        self._model_field = model_field
        self._packed_for: StreamBlock | None = None

    @property
    def block_def(self) -> StreamBlock:
        return self._model_field.stream_block

    @block_def.setter
    def block_def(self, value: StreamBlock) -> None:
        pass  # always the field's current blocks

    def _build_block_json(self) -> None:
        super()._build_block_json()
        self._packed_for = self.block_def

    @property
    def js_context(self) -> Any:
        if self._packed_for is not self.block_def:
            self._build_block_json()
        return self._js_context

    @property
    def block_json(self) -> Any:
        if self._packed_for is not self.block_def:
            self._build_block_json()
        return self._block_json


class MicroTemplateFormField(BlockField):
    """Wagtail's block form field over the model field's current blocks."""

    def __init__(self, model_field: MicroTemplateField, block: Any = None, **kwargs: Any) -> None:
        self._model_field = model_field
        kwargs.setdefault("widget", MicroTemplateWidget(model_field))
        forms.Field.__init__(self, **kwargs)

    @property
    def block(self) -> StreamBlock:
        return self._model_field.stream_block

    @block.setter
    def block(self, value: StreamBlock) -> None:
        pass
