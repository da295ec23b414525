"""Admin registration for slots (thin: the work happens in models, panels and forms)."""

from wagtail.admin.ui.tables import Column, LiveStatusTagColumn, UpdatedAtColumn
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from .models import Slot


class VariantSummaryColumn(Column):
    def get_value(self, instance):
        variants = list(instance.variants.all())
        paused = sum(1 for v in variants if v.is_paused)
        return f"{len(variants) - paused} live" + (f", {paused} paused" if paused else "")


class SlotViewSet(SnippetViewSet):
    model = Slot
    icon = "crosshairs"
    menu_label = "Slots"
    menu_name = "tailor-slots"
    menu_order = 200
    add_to_admin_menu = True
    list_display = [
        "name",
        "key",
        "strategy",
        VariantSummaryColumn("variants", label="Variants"),
        UpdatedAtColumn(),
        LiveStatusTagColumn(),
    ]
    list_filter = ["strategy", "live"]
    search_fields = ["name", "key"]
    # Plain icontains on name and key, not the Wagtail search index: the database backend's SQLite
    # full-text autocomplete fails on explicit fields ("no such column: name"), and a site has a few
    # dozen slots, so a substring match (part of a key such as "hero") is both enough and clearer.
    search_backend_name = None

    def get_queryset(self, request):
        return Slot.objects.prefetch_related("variants")


register_snippet(SlotViewSet)
