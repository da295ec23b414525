"""Admin screen for behaviour clusters: what the latest clustering found, and "Create segment" for one of them."""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_POST
from wagtail.admin import messages

from personalization.behaviour.clustering import ClusterSegmentError, cluster_segment_create, clusters_overview
from personalization.models import BehaviourCluster, Segment

SEGMENT_PERMISSIONS = ("personalization.add_segment", "personalization.change_segment", "personalization.view_segment")


def can_view_clusters(user) -> bool:
    return any(user.has_perm(perm) for perm in SEGMENT_PERMISSIONS)


def can_create_segments(user) -> bool:
    return user.has_perm("personalization.add_segment")


def segment_edit_url(segment: Segment) -> str:
    return reverse(Segment.snippet_viewset.get_url_name("edit"), args=[segment.pk])


class ClusterSegmentForm(forms.Form):
    name = forms.CharField(
        label="Segment name",
        max_length=255,
        error_messages={"required": "Give the segment a name, e.g. “Deal seekers”."},
    )
    key = forms.SlugField(
        label="Key",
        max_length=64,
        required=False,
        help_text="Blank: made from the name.",
        error_messages={"invalid": "Use only lowercase letters, digits, hyphens and underscores."},
    )

    def __init__(self, *args, cluster: BehaviourCluster, **kwargs) -> None:
        # Each cluster's form has its own prefix, so ids stay unique on a screen with several forms.
        super().__init__(*args, prefix=f"cluster-{cluster.pk}", **kwargs)
        self.cluster = cluster

    def clean(self):
        """Derive the key from the name when none is given; whether name and key are free is the service's check."""
        cleaned = super().clean()
        if "name" not in cleaned or "key" not in cleaned:
            return cleaned
        self.key_given = bool(cleaned["key"])
        key = cleaned["key"] or slugify(cleaned["name"])[:64].strip("-_")
        if not key:
            self.add_error("key", "The name has no letters or digits to make a key from: give a key.")
        else:
            cleaned["key"] = key
        return cleaned


def _render(request: HttpRequest, bound: ClusterSegmentForm | None = None) -> HttpResponse:
    overview = clusters_overview()
    can_create = can_create_segments(request.user)
    rows = []
    for row in overview.current:
        form = None
        if can_create and row.cluster.segment is None:
            form = (
                bound
                if bound is not None and bound.cluster.pk == row.cluster.pk
                else ClusterSegmentForm(cluster=row.cluster)
            )
        rows.append({"cluster": row.cluster, "resembles": row.resembles, "form": form})
    return TemplateResponse(
        request,
        "personalization/admin/behaviour_clusters.html",
        {
            "page_title": "Behaviour clusters",
            "header_title": "Behaviour clusters",
            "header_icon": "group",
            "run": overview.run,
            "scores": sorted((int(k), v) for k, v in overview.run.scores.items()) if overview.run else [],
            "rows": rows,
            "earlier": overview.earlier,
            "can_create": can_create,
        },
    )


def clusters_index(request: HttpRequest) -> HttpResponse:
    if not can_view_clusters(request.user):
        raise PermissionDenied
    return _render(request)


@require_POST
def cluster_segment_create_view(request: HttpRequest, pk: int) -> HttpResponse:
    if not can_create_segments(request.user):
        raise PermissionDenied
    cluster = BehaviourCluster.objects.select_related("segment").filter(pk=pk).first()
    if cluster is None:
        messages.error(request, "That cluster is gone: a newer clustering replaced it. Pick one of these.")
        return redirect("tailor_behaviour_clusters")
    if cluster.segment is not None:
        messages.error(request, f"{cluster.label} is already the segment “{cluster.segment}”.")
        return redirect("tailor_behaviour_clusters")
    form = ClusterSegmentForm(request.POST, cluster=cluster)
    if not form.is_valid():
        return _render(request, bound=form)
    try:
        segment = cluster_segment_create(
            cluster.pk, name=form.cleaned_data["name"], key=form.cleaned_data["key"], user=request.user
        )
    except BehaviourCluster.DoesNotExist:
        messages.error(request, "That cluster is gone: a newer clustering replaced it. Pick one of these.")
        return redirect("tailor_behaviour_clusters")
    except ClusterSegmentError as exc:
        # A key made from the name is not a field the editor typed: the error belongs to the form.
        form.add_error(None if exc.field == "key" and not form.key_given else exc.field, str(exc))
        return _render(request, bound=form)
    messages.success(
        request,
        f"Segment “{segment.name}” created from {cluster.label.lower()}: use it in a slot's targeting rules.",
        buttons=[messages.button(segment_edit_url(segment), "Edit segment")],
    )
    return redirect("tailor_behaviour_clusters")
