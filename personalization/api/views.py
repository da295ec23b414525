"""HTTP API of personalization: ``POST /api/v1/decisions/`` and ``GET /api/v1/slots/<key>/results/``."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from personalization.results.experiments import ExperimentNotFoundError, slot_experiment_results
from personalization.results.selectors import SlotNotFoundError, slot_results_recent
from personalization.serving.decide import decide, slot_keys_live
from personalization.serving.explain import RecordingSink, decision_records_explain
from personalization.serving.exposures import exposures_read_along
from personalization.serving.render import decision_represent
from tracking.api.parsers import JSONOnlyApi
from tracking.api.security import SameSiteOnly, SessionUser
from tracking.api.throttles import DecisionsIPRateThrottle, DecisionsVisitorRateThrottle, ThrottlesCountedTogether
from tracking.context import page_traffic_source
from tracking.middleware import RequestTailor, request_visitor_ensure

from .security import ResultsReaders, ResultsToken
from .serializers import (
    DecisionsInputSerializer,
    DecisionsOutputSerializer,
    SlotResultsInputSerializer,
    SlotResultsOutputSerializer,
)

Detail = inline_serializer("ResultsDetail", {"detail": serializers.CharField()})


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
            ),
            OpenApiExample(
                "Why am I seeing this: the same, explained",
                value={"slots": ["home-hero"], "explain": True},
                request_only=True,
            ),
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
        if "visitor" not in tailor.__dict__:
            # The page's UTM labels and outside referrer start or keep the visit's source, as the page would have.
            tailor.page_source = page_traffic_source(django_request, data.get("context", {}))
        exposures_read_along(tailor)
        visitor = tailor.visitor
        context = {**tailor.context, **data.get("context", {})}
        if "referrer" in data.get("context", {}):
            # The page's referrer, sent by tracker.js: its host is that referrer's, not the host of this request's
            # own Referer (the page itself); Context derives it when absent.
            context.pop("referrer_host", None)
        # Explaining reads what decide() recorded (the context with the visitor's features), as the log will hold it.
        recording = RecordingSink(tailor.decisions) if data["explain"] else None
        sink = recording or tailor.decisions
        decisions = [
            decision_represent(decide(key, visitor, context, sink=sink), visitor, context, html=True)
            for key in data["slots"]
        ]
        if recording is not None:
            explanations = decision_records_explain(recording.records)
            for decision in decisions:
                decision["explanation"] = explanations[decision["decision_id"]]
        return Response({"visitor_id": visitor.id, "decisions": decisions}, status=status.HTTP_200_OK)


class SlotResultsApi(JSONOnlyApi, APIView):
    """One slot's results per variant over the last days, with the comparisons and a verdict (never public)."""

    # The token first: an anonymous request is then answered 401 with WWW-Authenticate: Bearer.
    authentication_classes = [ResultsToken, SessionAuthentication]
    permission_classes = [ResultsReaders]

    @extend_schema(
        parameters=[
            OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH, description="The slot's key."),
            SlotResultsInputSerializer,
        ],
        responses={
            200: SlotResultsOutputSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="A query parameter is invalid; the body names it (days, metric, experiment, cuped).",
            ),
            401: OpenApiResponse(
                Detail, description="No credentials, or a bearer token that is not the results token."
            ),
            403: OpenApiResponse(Detail, description="A session whose user may not view slots in the admin."),
            404: OpenApiResponse(Detail, description="No slot has this key, or the slot no experiment with that key."),
        },
    )
    def get(self, request: Request, key: str) -> Response:
        query = SlotResultsInputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
        experiment = params.pop("experiment", None)
        try:
            if experiment:
                body = slot_experiment_results(key, experiment, metric=params.get("metric"), cuped=params["cuped"])
            else:
                body = slot_results_recent(key, **params)
        except SlotNotFoundError:
            raise NotFound(f"No slot has the key {key!r}.") from None
        except ExperimentNotFoundError:
            raise NotFound(f"No experiment has the key {experiment!r} on the slot {key!r}.") from None
        except ValueError as error:
            # An experiment's own metric can name a goal deleted since: the body names the field, as for ?metric=.
            field, _, problem = str(error).partition(": ")
            raise ValidationError({field: [problem]}) from None
        response = Response(body, status=status.HTTP_200_OK)
        response["Cache-Control"] = "private, no-store"  # a site's figures, for this reader only
        return response
