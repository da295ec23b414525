"""Admin registration for slots (thin: the work happens in models, panels and forms)."""

from django.utils.functional import cached_property
from wagtail import hooks
from wagtail.admin.ui.tables import Column, LiveStatusTagColumn, UpdatedAtColumn
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import EditView, IndexView, RevisionsCompareView, SnippetViewSet

from .models import Slot

# Apps that know about slots' traffic add listing columns without content importing them: a function
# registered under this name gets (the page of slots about to be listed, the request) and returns Wagtail
# table columns. It sees the whole page at once, so its figures can come from one query.
SLOT_LISTING_COLUMNS_HOOK = "tailor_slot_listing_columns"
# Likewise for buttons in the slot edit screen's header: a function gets (the slot, the user) and returns buttons.
SLOT_HEADER_BUTTONS_HOOK = "tailor_slot_header_buttons"
# And notices above the slot's edit form (the guardrails' findings): a function gets (the slot, the user) and
# returns Wagtail components, rendered in order.
SLOT_EDIT_NOTICES_HOOK = "tailor_slot_edit_notices"


class VariantSummaryColumn(Column):
    def get_value(self, instance):
        variants = list(instance.variants.all())
        paused = sum(1 for v in variants if v.is_paused)
        return f"{len(variants) - paused} live" + (f", {paused} paused" if paused else "")


class SlotIndexView(IndexView):
    def get_table(self, object_list):
        slots = list(object_list)
        extra = [column for fn in hooks.get_hooks(SLOT_LISTING_COLUMNS_HOOK) for column in fn(slots, self.request)]
        if not extra:
            return super().get_table(slots)
        columns = list(self.columns)
        at = next((i for i, column in enumerate(columns) if isinstance(column, UpdatedAtColumn)), len(columns))
        return self.table_class([*columns[:at], *extra, *columns[at:]], slots, **self.get_table_kwargs())


class SlotEditView(EditView):
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["slot_notices"] = [
            notice for fn in hooks.get_hooks(SLOT_EDIT_NOTICES_HOOK) for notice in fn(self.object, self.request.user)
        ]
        return context

    @cached_property
    def header_buttons(self):
        buttons = list(super().header_buttons)
        for fn in hooks.get_hooks(SLOT_HEADER_BUTTONS_HOOK):
            buttons.extend(fn(self.object, self.request.user))
        return buttons


class SlotRevisionsCompareView(RevisionsCompareView):
    def get_template_names(self):
        return ["content/slot_compare.html"]  # only the changed variants, and of them the changed fields


class SlotViewSet(SnippetViewSet):
    model = Slot
    index_view_class = SlotIndexView
    edit_view_class = SlotEditView
    edit_template_name = "content/slot_edit.html"  # the edit form, with the notices other apps add above it
    revisions_compare_view_class = SlotRevisionsCompareView
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
