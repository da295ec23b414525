from django.urls import path

from .views import ConsentUpdateApi, EventsCreateApi, GoalsListApi, VisitorMeApi

urlpatterns = [
    path("events/", EventsCreateApi.as_view(), name="events-create"),
    path("consent/", ConsentUpdateApi.as_view(), name="consent-update"),
    path("goals/", GoalsListApi.as_view(), name="goals-list"),
    path("visitors/me/", VisitorMeApi.as_view(), name="visitors-me"),
]
