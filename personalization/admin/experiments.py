"""The Experiments snippet screens: Wagtail's own listing, editor, drafts, revisions and publishing.

An experiment is edited like a slot: saved as a draft, published when ready (it then runs
from its start to its stop), unpublished to stop it early. The form checks it
(``personalization.forms.ExperimentForm``); the listing says each one's status.
"""

from __future__ import annotations

from wagtail.admin.ui.tables import Column
from wagtail.snippets.views.snippets import SnippetViewSet

from personalization.models import Experiment


class ExperimentViewSet(SnippetViewSet):
    model = Experiment
    icon = "tasks"
    menu_label = "Experiments"
    menu_name = "tailor-experiments"
    menu_order = 204
    add_to_admin_menu = True
    list_display = [
        "name",
        "key",
        "slot",
        Column("status", label="Status", accessor="status"),
        Column("starts_at", label="Start", accessor="starts_at"),
        Column("stops_at", label="Stop", accessor="stops_at"),
    ]
    search_fields = ["name", "key"]
