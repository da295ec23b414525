"""Tailor's URLs, for a site to include: ``path("", include("personalization.urls"))``.

Mounts the HTTP API under ``/api/v1/`` (decisions, events, consent, visitors/me), its OpenAPI
schema and interactive docs at ``/api/schema/`` and ``/api/docs/``, and ``/metrics`` (404 until
``TAILOR["METRICS_TOKEN"]`` or ``TAILOR["METRICS_ALLOWED_IPS"]`` opens it). Include it before
Wagtail's page tree, whose catch-all would otherwise answer these paths.
"""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from tracking.metrics_views import metrics_export

# The schema describes Tailor's API whatever the site's own SPECTACULAR_SETTINGS say.
SCHEMA_SETTINGS = {
    "TITLE": "Tailor API",
    "DESCRIPTION": "Per-visitor decisions for Wagtail slots, and the events that teach them.",
    "VERSION": "1.0.0",
    "PREPROCESSING_HOOKS": ["personalization.api.schema.tailor_endpoints_only"],
}

urlpatterns = [
    path("api/v1/", include("personalization.api.urls")),
    path("api/v1/", include("tracking.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(custom_settings=SCHEMA_SETTINGS), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema", title="Tailor API"), name="api-docs"),
    path("metrics", metrics_export, name="metrics"),
]
