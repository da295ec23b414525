"""The choices of the "Preview as" control in Wagtail's preview panel: segments, devices and sampled visitors.

The control (``static/personalization/preview-panel.js``, added to every editor by ``insert_editor_js``) asks
here once per editor page; what it sends back travels in the preview's URL (``serving.preview``).
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET

from personalization.models import Segment
from personalization.serving.preview import PREVIEW_DEVICES, preview_visitors_sample


@require_GET
def preview_options(request: HttpRequest) -> JsonResponse:
    """Admin-only (Wagtail's admin URLs require admin access): visitor ids are pseudonymous, but not public."""
    segments = Segment.objects.filter(is_active=True).order_by("name").values_list("key", "name")
    return JsonResponse(
        {
            "segments": [{"key": key, "name": name} for key, name in segments],
            "devices": list(PREVIEW_DEVICES),
            "visitors": [{"id": v.id, "label": v.label} for v in preview_visitors_sample()],
        }
    )


def preview_panel_script() -> SafeString:
    return format_html(
        '<script src="{}" data-tailor-preview-options="{}"></script>',
        static("personalization/preview-panel.js"),
        reverse("tailor_preview_options"),
    )
