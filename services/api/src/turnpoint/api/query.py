"""Query strings of the busiest routes, each validated by one pydantic model in a single call.

FastAPI validates declared query parameters one by one, with per-parameter introspection on every request:
on the symbols list that was about a third of the worker's CPU per request (bench/api.py). These routes take
the `Request`, validate `request.query_params` with their model (`parse`), and document the same parameters
in OpenAPI from the model (`documented`), so the schema, the validation and the 422 problem stay as before.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from turnpoint.api.cursor import MAX_CURSOR_LENGTH
from turnpoint.api.pages import DEFAULT_LIMIT, MAX_LIMIT
from turnpoint.api.params import NO_NUL, GTypeParam, IntervalParam, PeriodParam
from turnpoint.api.symbol_list import Order, SortName
from turnpoint.core.contracts import Date

M = TypeVar("M", bound="QueryModel")


class QueryModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=False)


class Paged(QueryModel):
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="page size")
    cursor: str | None = Field(None, max_length=MAX_CURSOR_LENGTH, description="next_cursor of the previous page")


class DateRange(Paged):
    from_: Date | None = Field(None, alias="from", description="first date, inclusive (ISO-8601, years 1000-2999)")
    to: Date | None = Field(None, description="last date, inclusive (ISO-8601, years 1000-2999)")


class BarsQuery(DateRange):
    interval: IntervalParam = "day"


class LegsQuery(DateRange):
    gtype: GTypeParam = "close"


class StatsQuery(DateRange):
    series: str = Field(min_length=1, max_length=200, pattern=NO_NUL, description="series name (may contain `/`)")
    period: PeriodParam = "day"


class SymbolsQuery(Paged):
    gtype: GTypeParam = Field("close", description="the graph type whose state is shown, filtered and sorted")
    market: str | None = Field(None, max_length=64, pattern=NO_NUL)
    direction: Literal["none", "up", "down"] | None = None
    min_pct: float | None = Field(None, ge=-1e9, le=1e9, description="minimum pct_from_pivot, in percent (-5 = a 5 % drop; not a fraction)")
    max_pct: float | None = Field(None, ge=-1e9, le=1e9, description="maximum pct_from_pivot, in percent (5 = 5 %; not a fraction)")
    q: str | None = Field(None, max_length=64, pattern=NO_NUL, description="substring of the symbol or its name")
    sort: SortName = "symbol"
    order: Order = "asc"


def parse(model: type[M], request: Request) -> M:
    """The validated query of `request`; a RequestValidationError (422 problem naming each field) otherwise."""
    try:
        return model.model_validate(dict(request.query_params))
    except ValidationError as exc:
        errors = [{"loc": ("query", *e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise RequestValidationError(errors) from None


def documented(model: type[QueryModel]) -> dict[str, Any]:
    """`openapi_extra` that documents the model's fields as query parameters (FastAPI appends them)."""
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return {"parameters": parameters}
