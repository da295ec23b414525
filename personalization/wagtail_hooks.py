"""Admin registration: segments, experiments, and the model registry's screen (thin: views live in admin_views)."""

from django.urls import path, reverse
from wagtail import hooks
from wagtail.admin.menu import MenuItem
from wagtail.admin.widgets.button import Button, HeaderButton
from wagtail.snippets.models import register_snippet

from personalization.admin import model_versions as admin_views
from personalization.admin.experiments import ExperimentViewSet
from personalization.admin.segments import SegmentViewSet
from personalization.learning.activation import LOG_ACTION, ModelActivationLogFormatter

register_snippet(SegmentViewSet)
register_snippet(ExperimentViewSet)


@hooks.register("register_admin_urls")
def register_model_urls():
    return [
        path("tailor/models/", admin_views.model_versions_index, name="tailor_model_versions"),
        path(
            "tailor/models/<int:pk>/activate/",
            admin_views.model_version_activate,
            name="tailor_model_version_activate",
        ),
    ]


class ModelsMenuItem(MenuItem):
    def is_shown(self, request):
        return admin_views.can_view_models(request.user)


@hooks.register("register_admin_menu_item")
def register_models_menu_item():
    return ModelsMenuItem("Models", reverse("tailor_model_versions"), icon_name="cogs", order=202)


@hooks.register("register_log_actions")
def register_model_log_actions(actions):
    actions.register_action(LOG_ACTION)(ModelActivationLogFormatter)


class BehaviourClustersMenuItem(MenuItem):
    def is_shown(self, request):
        from personalization.admin.clusters import can_view_clusters

        return can_view_clusters(request.user)


@hooks.register("register_admin_urls")
def register_cluster_urls():
    from personalization.admin import clusters as cluster_views

    return [
        path("tailor/clusters/", cluster_views.clusters_index, name="tailor_behaviour_clusters"),
        path(
            "tailor/clusters/<int:pk>/segment/",
            cluster_views.cluster_segment_create_view,
            name="tailor_behaviour_cluster_segment",
        ),
    ]


@hooks.register("register_admin_menu_item")
def register_clusters_menu_item():
    return BehaviourClustersMenuItem(
        "Behaviour clusters", reverse("tailor_behaviour_clusters"), icon_name="group", order=203
    )


class DecisionsMenuItem(MenuItem):
    def is_shown(self, request):
        from personalization.admin.decisions import can_explore_decisions

        return can_explore_decisions(request.user)


@hooks.register("register_admin_urls")
def register_decision_urls():
    from personalization.admin.decisions import decision_explorer_view

    return [path("tailor/decisions/", decision_explorer_view, name="tailor_decision_explorer")]


@hooks.register("register_admin_menu_item")
def register_decisions_menu_item():
    # "Why did they see this?": beside the other Tailor screens (Slots 200 ... Goals 210).
    return DecisionsMenuItem("Decisions", reverse("tailor_decision_explorer"), icon_name="help", order=204)


@hooks.register("register_log_actions")
def register_cluster_log_actions(actions):
    actions.register_action(
        "tailor.segment.from_cluster", "Create segment from behaviour cluster", "Created from a behaviour cluster"
    )


@hooks.register("register_admin_urls")
def register_results_urls():
    from django.urls import include

    from personalization.admin import results as results_views

    urls = [
        path("<slug:key>/", results_views.slot_results_view, name="slot"),
        path("<slug:key>/csv/", results_views.slot_results_csv, name="csv"),
    ]
    return [path("tailor/results/", include((urls, "tailor_results"), namespace="tailor_results"))]


@hooks.register("tailor_slot_listing_columns")
def register_slot_listing_columns(slots, request):
    from personalization.admin.slot_listing import slot_listing_columns

    return slot_listing_columns(slots, request)


@hooks.register("register_snippet_listing_buttons")
def register_slot_results_button(snippet, user, next_url=None):
    from content.models import Slot
    from personalization.admin.results import can_view_results

    if isinstance(snippet, Slot) and can_view_results(user):
        yield Button("Results", url=reverse("tailor_results:slot", args=[snippet.key]), icon_name="table", priority=15)


@hooks.register("tailor_slot_header_buttons")
def register_slot_results_header_button(slot, user):
    from personalization.admin.results import can_view_results

    if not can_view_results(user):
        return []
    return [HeaderButton("Results", url=reverse("tailor_results:slot", args=[slot.key]), icon_name="table")]


@hooks.register("register_log_actions")
def register_guardrail_log_actions(actions):
    from personalization.guardrails.notices import LABELS, GuardrailLogFormatter

    for action, label in LABELS.items():
        formatter = type(f"{action.split('.')[-1].title().replace('_', '')}Formatter", (GuardrailLogFormatter,), {})
        formatter.label = label
        actions.register_action(action)(formatter)


@hooks.register("tailor_slot_edit_notices")
def register_slot_guardrail_notices(slot, user):
    from personalization.guardrails.notices import slot_guardrail_notices

    return slot_guardrail_notices(slot)


@hooks.register("tailor_guardrail_metrics")
def register_guardrail_metrics():
    from personalization.results.selectors import metric_names

    return [name for name, _ in metric_names()]


@hooks.register("register_admin_urls")
def register_preview_urls():
    from personalization.admin import preview as preview_views

    return [path("tailor/preview/options/", preview_views.preview_options, name="tailor_preview_options")]


@hooks.register("insert_editor_js")
def preview_panel_js():
    """The "Preview as" control in every editor's preview panel (pages and snippets alike)."""
    from personalization.admin.preview import preview_panel_script

    return preview_panel_script()
