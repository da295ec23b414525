"""Wagtail's pages and images API as Tailor serves it at ``/api/v2/``.

Wagtail hands query parameters to the database as they come, so a number past 64 bits, a NUL
character or an unknown search operator became a database error and a 500. Here every parameter
is checked first and a bad one is a 400 that names it, and so is a field filter value its field
cannot parse (a date that is not one). Page bodies carry slots resolved for the
requesting visitor, so page responses vary on the visitor's cookie and header: a shared cache
must never hand one visitor's decisions to another.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import EmptyResultSet, FullResultSet, ValidationError
from django.db import models
from django.http import Http404, QueryDict
from django.utils.cache import patch_vary_headers
from wagtail.api.v2.filters import FieldsFilter
from wagtail.api.v2.utils import BadRequestError
from wagtail.api.v2.views import PagesAPIViewSet
from wagtail.images.api.v2.views import ImagesAPIViewSet

# Databases store ids and counts as signed 64-bit integers; PostgreSQL refuses anything larger.
INTEGER_MAX = 2**63 - 1
INTEGER_PARAMETERS = frozenset(
    ["offset", "limit", "id", "child_of", "descendant_of", "ancestor_of", "translation_of", "site_id"]
)
INTEGER_LITERAL = re.compile(r"\s*[+-]?\d+\s*")
SEARCH_OPERATORS = ("and", "or")


def api_query_check(query: QueryDict, integer_fields: set[str]) -> None:
    """Refuse what the database cannot take, naming the parameter: NUL, integers past 64 bits, unknown operators."""
    for name, values in query.lists():
        for value in values:
            if "\x00" in value or "\x00" in name:
                raise BadRequestError(f"{name!r} must not contain NUL characters")
            is_integer = name in INTEGER_PARAMETERS or name in integer_fields
            if is_integer and INTEGER_LITERAL.fullmatch(value) and abs(int(value)) > INTEGER_MAX:
                raise BadRequestError(f"{name} is out of range (at most {INTEGER_MAX})")
    operator = query.get("search_operator")
    if operator is not None and operator.lower() not in SEARCH_OPERATORS:
        raise BadRequestError("search_operator must be 'and' or 'or'")


def search_normalize(query: str) -> str:
    """The search text without double quotes and with single spaces, which is what it means anyway.

    The SQLite search backend puts each term between double quotes without escaping them
    ("unterminated string"), and a query of only spaces compiles to nothing (AttributeError);
    neither quotes nor spaces are part of any word, so the search finds the same pages.
    """
    return " ".join(query.replace('"', " ").split())


def integer_field_names(model: type[models.Model]) -> set[str]:
    integer_types = (models.IntegerField, models.AutoField, models.ForeignKey)
    return {field.name for field in model._meta.get_fields() if isinstance(field, integer_types)} | {
        field.attname for field in model._meta.get_fields() if isinstance(field, models.ForeignKey)
    }


class OneParameter:
    """The part of a request Wagtail's field filter reads (``GET.items()``), holding one parameter."""

    def __init__(self, name: str, value: str) -> None:
        self.GET = {name: value}


class FieldsFilterNamed(FieldsFilter):
    """Wagtail's field filter, one parameter at a time, so a value its field cannot take is a 400 naming it.

    Wagtail converts booleans, integers and foreign keys itself, but hands the rest (a date, a
    time) to Django as text: ``first_published_at=notadate`` raised ValidationError, and
    ``0001-01-01T00:00+14:00`` (before year 1 in UTC) an OverflowError only when the query was
    compiled. Compiling here, right after the filter, makes both fail where the parameter is known.
    """

    def filter_queryset(self, request: Any, queryset: Any, view: Any) -> Any:
        for name, value in request.GET.items():
            try:
                filtered = super().filter_queryset(OneParameter(name, value), queryset, view)
                if filtered is not queryset:
                    query_compile(filtered)
            except (ValidationError, ValueError, OverflowError) as error:
                raise BadRequestError(f"field filter error. {value!r} is not a valid value for {name}") from error
            queryset = filtered
        return queryset


def query_compile(queryset: Any) -> None:
    try:
        queryset.query.get_compiler(using=queryset.db).as_sql()
    except (EmptyResultSet, FullResultSet):
        pass  # a filter that matches nothing (an integer past the column's range) or everything: valid


def filter_backends_named(backends: list[type]) -> list[type]:
    return [FieldsFilterNamed if backend is FieldsFilter else backend for backend in backends]


class QueryCheckMixin:
    """Checks the query string before Wagtail's view runs, and looks up out-of-range ids as not found."""

    request: Any
    kwargs: dict[str, Any]
    model: type[models.Model]

    def initial(self, request: Any, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        api_query_check(request.GET, integer_field_names(self.model))
        search = request.GET.get("search")
        if search is not None and search != search_normalize(search):
            cleaned = request.GET.copy()
            cleaned["search"] = search_normalize(search)
            request._request.GET = cleaned

    def handle_exception(self, exc: Exception) -> Any:
        # Django raises ValidationError only for a value it could not parse, which here can only come
        # from the query string: a 400 with Django's message (it quotes the value), never a 500.
        if isinstance(exc, ValidationError):
            exc = BadRequestError(f"a query parameter is not valid: {' '.join(exc.messages)}")
        return super().handle_exception(exc)  # type: ignore[misc]

    def get_object(self) -> Any:
        pk = self.kwargs.get("pk")
        if pk is not None and abs(int(pk)) > INTEGER_MAX:
            raise Http404("not found")
        return super().get_object()  # type: ignore[misc]


class TailorPagesAPIViewSet(QueryCheckMixin, PagesAPIViewSet):
    filter_backends = filter_backends_named(PagesAPIViewSet.filter_backends)

    def finalize_response(self, request: Any, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ("Cookie", "X-Tailor-Visitor"))
        return response


class TailorImagesAPIViewSet(QueryCheckMixin, ImagesAPIViewSet):
    filter_backends = filter_backends_named(ImagesAPIViewSet.filter_backends)
