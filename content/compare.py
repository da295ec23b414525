"""Revision comparison for slots: only what changed, word by word.

Wagtail's compare screen lists every child object of a revision, changed or not, and every
parameter of a changed micro-template: a one-word headline edit showed all four variants in full.
Here a variant appears only when it was added, deleted, moved or edited; of an edited variant only
its changed fields; of its micro-template only the changed parameters. Text keeps Wagtail's
word-level diff (``diff_text``), so the one changed word is what stands out.
"""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from wagtail.admin.compare import (
    StreamFieldComparison,
    StructBlockComparison,
    get_comparison_class_for_block,
    register_comparison_class,
)

from .fields import MicroTemplateField


class ChangedParamsComparison(StructBlockComparison):
    """A micro-template's parameters: when edited, only those that changed, each as a word-level diff."""

    def htmldiff(self) -> str:
        if not (self.exists_a and self.exists_b):
            return super().htmldiff()
        changed = []
        for name, block in self.block.child_blocks.items():
            comparison = get_comparison_class_for_block(block)(block, True, True, self.val_a[name], self.val_b[name])
            if comparison.has_changed():
                changed.append((block.label, comparison.htmldiff()))
        return format_html(
            '<dl data-changed-params="{}">\n{}\n</dl>',
            len(changed),
            format_html_join("\n", "    <dt>{}</dt>\n    <dd>{}</dd>", changed),
        )


class ParamsFieldComparison(StreamFieldComparison):
    """A variant's parameters: one micro-template block on each side of the same type is the same block.

    Wagtail pairs StreamField blocks by id, and a block saved without its id (an import, a seed, a
    revision written in code) gets a new one; the edit of one headline then reads as the whole
    micro-template deleted and added again. A variant holds exactly one block, so pair them by type.
    """

    def htmldiff(self) -> str:
        a, b = list(self.val_a or ()), list(self.val_b or ())
        if len(a) == len(b) == 1 and a[0].block_type == b[0].block_type:
            comparison = get_comparison_class_for_block(b[0].block)(b[0].block, True, True, a[0].value, b[0].value)
            return comparison.htmldiff()
        return super().htmldiff()


def comparisons_register() -> None:
    """Called from ``ContentConfig.ready``: Wagtail's compare screen then uses ``ParamsFieldComparison``."""
    register_comparison_class(MicroTemplateField, comparison_class=ParamsFieldComparison, exact_class=True)
