"""Who may read results through the API: an editor's admin session, or a BI tool's bearer token.

Results tell how a site's content performs, so they are never public. ``ResultsToken`` accepts
``Authorization: Bearer <TAILOR["RESULTS_API_TOKEN"]>`` (compared in constant time) and refuses a
wrong one outright; ``ResultsReaders`` then lets through that token or a logged-in user who may
use the Wagtail admin and view slots. Without either the answer is 401.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from ..conf import setting

RESULTS_TOKEN = "results-token"  # noqa: S105 - a marker for request.auth once the token matched, not a secret


class ResultsToken(BaseAuthentication):
    """``Authorization: Bearer <token>`` against ``TAILOR["RESULTS_API_TOKEN"]``; no header: not this scheme."""

    def authenticate(self, request: Any) -> tuple[AnonymousUser, str] | None:
        scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = setting("RESULTS_API_TOKEN")
        # Compared in constant time, so response timing does not reveal how much of a guess was right.
        if not token or not hmac.compare_digest(presented.strip().encode(), token.encode()):
            raise AuthenticationFailed("The bearer token is not the results API token.")
        return AnonymousUser(), RESULTS_TOKEN

    def authenticate_header(self, request: Any) -> str:
        return 'Bearer realm="tailor-results"'


class ResultsReaders(BasePermission):
    """The results token, or an admin user with the view (or change) permission of slots."""

    message = "Reading results needs Wagtail admin access and permission to view slots."

    def has_permission(self, request: Any, view: Any) -> bool:
        if request.auth == RESULTS_TOKEN:
            return True
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.is_active
            and user.has_perm("wagtailadmin.access_admin")
            and (user.has_perm("content.view_slot") or user.has_perm("content.change_slot"))
        )
