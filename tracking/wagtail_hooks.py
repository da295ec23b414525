"""Admin registration for conversion goals (thin: validation lives on the model, definitions in ``goals``)."""

from wagtail.admin.ui.tables import LiveStatusTagColumn, UpdatedAtColumn
from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from .models import Goal


class GoalViewSet(SnippetViewSet):
    model = Goal
    icon = "success"
    menu_label = "Goals"
    menu_name = "tailor-goals"
    menu_order = 210
    add_to_admin_menu = True
    list_display = ["name", "key", "kind", "match", "is_active", UpdatedAtColumn(), LiveStatusTagColumn()]
    list_filter = ["kind", "is_active", "live"]
    search_fields = ["name", "key"]
    search_backend_name = None  # plain icontains, as for slots: a site has a few dozen goals


register_snippet(GoalViewSet)
