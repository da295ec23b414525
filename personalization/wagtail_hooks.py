"""Admin registration for segments."""

from wagtail.snippets.models import register_snippet
from wagtail.snippets.views.snippets import SnippetViewSet

from .models import Segment


class SegmentViewSet(SnippetViewSet):
    model = Segment
    icon = "group"
    menu_label = "Segments"
    menu_name = "tailor-segments"
    menu_order = 201
    add_to_admin_menu = True
    list_display = ["name", "key", "match", "is_active"]
    list_filter = ["match", "is_active"]


register_snippet(SegmentViewSet)
