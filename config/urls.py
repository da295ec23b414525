"""URL configuration: admin, the APIs and their docs, then Wagtail's page tree."""

from django.conf import settings
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.api.v2.router import WagtailAPIRouter
from wagtail.documents import urls as wagtaildocs_urls

from content.api import TailorImagesAPIViewSet, TailorPagesAPIViewSet
from tracking.metrics_views import metrics_export

pages_api = WagtailAPIRouter("wagtailapi")
pages_api.register_endpoint("pages", TailorPagesAPIViewSet)
pages_api.register_endpoint("images", TailorImagesAPIViewSet)

urlpatterns = [
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    path("api/v1/", include("personalization.api.urls")),
    path("api/v1/", include("tracking.api.urls")),
    path("api/v2/", pages_api.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("metrics", metrics_export, name="metrics"),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

urlpatterns += [path("", include(wagtail_urls))]
