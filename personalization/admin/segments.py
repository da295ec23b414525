"""The Segments screens: drafts and publishing (a segment is live in every slot that targets it, so an edit
reaches visitors only when published), an Active tick, and each segment's reach among recent visitors."""

from __future__ import annotations

from typing import Any

from wagtail.admin.panels import FieldPanel, Panel
from wagtail.admin.ui.tables import Column, LiveStatusTagColumn, StatusTagColumn
from wagtail.snippets.views.snippets import SnippetViewSet

from personalization.models import Segment
from personalization.segment_reach import SegmentReach, segment_reach, segments_reach


class ReachColumn(Column):
    """Reach of each listed segment as published; the sample is read once for the whole page."""

    cell_template_name = "personalization/admin/segment_reach_cell.html"

    def get_cell_context_data(self, instance: Any, parent_context: Any) -> dict[str, Any]:
        context = super().get_cell_context_data(instance, parent_context)
        table = parent_context.get("table")
        reach: dict[Any, SegmentReach] | None = getattr(table, "_tailor_reach", None)
        if reach is None:
            reach = segments_reach(list(table.data) if table is not None else [instance])
            if table is not None:
                table._tailor_reach = reach
        context["reach"] = reach.get(instance.pk) or segment_reach(instance)
        return context


class SegmentReachPanel(Panel):
    """The reach of the segment as it stands in the editor (the draft, when there is one)."""

    class BoundPanel(Panel.BoundPanel):
        template_name = "personalization/admin/segment_reach_panel.html"

        def get_context_data(self, parent_context: Any = None) -> dict[str, Any]:
            context = super().get_context_data(parent_context)
            context["reach"] = segment_reach(self.instance) if self.instance.pk else None
            return context


class SegmentViewSet(SnippetViewSet):
    model = Segment
    icon = "group"
    menu_label = "Segments"
    menu_name = "tailor-segments"
    menu_order = 201
    add_to_admin_menu = True
    list_display = [
        "name",
        "key",
        "match",
        # A tag in words: an icon's only text would be "True" for a screen reader.
        StatusTagColumn(
            "is_active",
            label="Active",
            accessor=lambda segment: "active" if segment.is_active else "inactive",
            primary=lambda segment: segment.is_active,
            sort_key="is_active",
        ),
        ReachColumn("reach", label="Reach (recent visitors)"),
        LiveStatusTagColumn(),
    ]
    list_filter = ["match", "is_active", "live"]
    panels = [
        FieldPanel("name"),
        FieldPanel("key"),
        FieldPanel("description"),
        FieldPanel("match"),
        FieldPanel("rules"),
        FieldPanel("is_active"),
        SegmentReachPanel(heading="Reach"),
    ]
