"""Who may change a visitor's state through the API, and as which user.

Visitors are anonymous and hold no CSRF token, so the API cannot use Django's CSRF check. The
browser's own marks do the same job: ``SameSiteOnly`` refuses a state-changing request that
another site's page sent (see ``tracking.cross_site``), unless that site is allow-listed for
CORS. With that in place the API can use the session's user, which it needs for login targeting
and ``{visitor.first_name}``: ``SessionUser`` is DRF's session authentication without its CSRF
check, which ``SameSiteOnly`` stands in for. Use the two together.
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from ..cross_site import cross_site_refusal


class SameSiteOnly(BasePermission):
    """Refuse (403) a state-changing request from another site's page unless its origin is allow-listed."""

    def has_permission(self, request: Any, view: Any) -> bool:
        refusal = cross_site_refusal(request._request)
        if refusal:
            # Raised rather than returned: DRF would answer "not authenticated" for an anonymous visitor.
            raise PermissionDenied(refusal)
        return True


class SessionUser(SessionAuthentication):
    """The logged-in user from Django's session; ``SameSiteOnly`` replaces the CSRF check."""

    def enforce_csrf(self, request: Any) -> None:
        return None
