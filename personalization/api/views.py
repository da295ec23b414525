"""HTTP API of personalization: ``POST /api/v1/decisions/``."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from personalization.serving.decide import decide, slot_keys_live
from personalization.serving.render import decision_represent
from tracking.api.parsers import JSONOnlyApi
from tracking.api.security import SameSiteOnly, SessionUser
from tracking.api.throttles import DecisionsIPRateThrottle, DecisionsVisitorRateThrottle, ThrottlesCountedTogether
from tracking.middleware import RequestTailor, request_visitor_ensure

from .serializers import DecisionsInputSerializer, DecisionsOutputSerializer


class DecisionsCreateApi(JSONOnlyApi, ThrottlesCountedTogether, APIView):
    """Choose variants of one or more slots for the visitor, with their HTML and decision ids."""

    # The session's user, for login targeting and {visitor.first_name}; SameSiteOnly stands in for CSRF.
    authentication_classes = [SessionUser]
    permission_classes = [SameSiteOnly]
    throttle_classes = [DecisionsVisitorRateThrottle, DecisionsIPRateThrottle]

    @extend_schema(
        request=DecisionsInputSerializer,
        responses={
            200: DecisionsOutputSerializer,
            400: OpenApiResponse(description="The body is not strict JSON or a field is invalid; the body names it."),
            403: OpenApiResponse(description="Refused: a cross-site request from an origin that is not allowed."),
            413: OpenApiResponse(description="The body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE."),
            415: OpenApiResponse(description="The body is not application/json."),
            429: OpenApiResponse(description="Too many decisions for this visitor or IP; retry after Retry-After."),
        },
        examples=[
            OpenApiExample(
                "Hero for a newsletter reader on mobile",
                value={"slots": ["home-hero"], "context": {"device": "mobile", "utm_source": "newsletter"}},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        serializer = DecisionsInputSerializer(data=request.data, context={"live_slots": slot_keys_live()})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        django_request = request._request
        if data.get("visitor_id"):
            django_request.tailor = RequestTailor(django_request, data["visitor_id"], issued=False, named=True)
        tailor = request_visitor_ensure(django_request)
        visitor = tailor.visitor
        context = {**tailor.context, **data.get("context", {})}
        decisions = [
            decision_represent(decide(key, visitor, context, sink=tailor.decisions), visitor, context, html=True)
            for key in data["slots"]
        ]
        return Response({"visitor_id": visitor.id, "decisions": decisions}, status=status.HTTP_200_OK)
