from django.urls import path

from .views import DecisionsCreateApi

urlpatterns = [
    path("decisions/", DecisionsCreateApi.as_view(), name="decisions-create"),
]
