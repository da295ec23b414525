from django.urls import path, re_path

from .views import DecisionsCreateApi, SlotResultsApi

urlpatterns = [
    path("decisions/", DecisionsCreateApi.as_view(), name="decisions-create"),
    # Any key at all (empty, with a slash or a newline) reaches the view, which answers an unknown one in JSON.
    re_path(r"^slots/(?P<key>[\s\S]*)/results/$", SlotResultsApi.as_view(), name="slot-results"),
]
