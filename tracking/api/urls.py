from django.urls import path

from .views import ConsentUpdateApi, EventsCreateApi, VisitorMeApi

urlpatterns = [
    path("events/", EventsCreateApi.as_view(), name="events-create"),
    path("consent/", ConsentUpdateApi.as_view(), name="consent-update"),
    path("visitors/me/", VisitorMeApi.as_view(), name="visitors-me"),
]
