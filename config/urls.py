"""URL configuration: admin, Tailor's URLs as a site includes them, the pages API, then Wagtail's page tree."""

from django.conf import settings
from django.urls import include, path
from wagtail import urls as wagtail_urls
from wagtail.admin import urls as wagtailadmin_urls
from wagtail.api.v2.router import WagtailAPIRouter
from wagtail.documents import urls as wagtaildocs_urls

from content.api import TailorImagesAPIViewSet, TailorPagesAPIViewSet

pages_api = WagtailAPIRouter("wagtailapi")
pages_api.register_endpoint("pages", TailorPagesAPIViewSet)
pages_api.register_endpoint("images", TailorImagesAPIViewSet)

urlpatterns = [
    path("admin/", include(wagtailadmin_urls)),
    path("documents/", include(wagtaildocs_urls)),
    path("", include("personalization.urls")),  # /api/v1/, /api/schema/, /api/docs/, /metrics
    path("api/v2/", pages_api.urls),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

urlpatterns += [path("", include(wagtail_urls))]
