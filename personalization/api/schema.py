"""OpenAPI generation: document Tailor's own API, not Wagtail's internal admin endpoints.

Every operation documents the errors it can answer, so a client (and the schemathesis suite in
``tests/fuzz/``) can rely on the schema: statuses that follow from how a view is built (a request
body can be malformed or of the wrong media type, a throttled view can answer 429) are added here
from the view itself; statuses particular to one view (404, 503 ...) are declared on the view.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from tracking.api.security import SameSiteOnly

BODY_ERRORS = {
    "400": "The request is malformed; the body names each field and its problem.",
    "413": "The body is larger than the endpoint accepts.",
    "415": "The body's media type is not accepted; send application/json.",
}
CROSS_SITE = "Refused: a state-changing request from another site whose origin is not allow-listed."
THROTTLED = "Too many requests from this visitor or address; retry after Retry-After seconds."
VISITOR_HEADER = OpenApiParameter(
    "X-Tailor-Visitor",
    OpenApiTypes.UUID,
    OpenApiParameter.HEADER,
    description="The visitor's id, for headless clients that cannot send the tailor_vid cookie.",
)


def tailor_endpoints_only(endpoints: list[tuple[str, str, str, Any]], **kwargs: Any) -> list[tuple[str, str, str, Any]]:
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/v1/")]


class TailorAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the error statuses every view of a kind can return."""

    def get_override_parameters(self) -> list[Any]:
        # Every endpoint identifies the visitor through the middleware, from this header or the cookie.
        return [*super().get_override_parameters(), VISITOR_HEADER]

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        errors: dict[str, str] = {}
        if self.method in ("POST", "PUT", "PATCH"):
            errors.update(BODY_ERRORS)
        if self.view.get_throttles():
            errors["429"] = THROTTLED
        if any(isinstance(permission, SameSiteOnly) for permission in self.view.get_permissions()):
            errors["403"] = CROSS_SITE
        for code, description in errors.items():
            if code not in responses:
                response = OpenApiResponse(response=OpenApiTypes.OBJECT, description=description)
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        if "429" in responses and "headers" not in responses["429"]:
            responses["429"]["headers"] = {
                "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait before retrying."}
            }
        return responses


class SessionUserScheme(OpenApiAuthenticationExtension):
    """The session cookie, optional: anonymous visitors are the norm; a logged-in editor is recognised."""

    target_class = "tracking.api.security.SessionUser"
    name = "sessionUser"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


class ResultsTokenScheme(OpenApiAuthenticationExtension):
    """The results API's bearer token (``TAILOR["RESULTS_API_TOKEN"]``), for BI tools."""

    target_class = "personalization.api.security.ResultsToken"
    name = "resultsToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer"}
