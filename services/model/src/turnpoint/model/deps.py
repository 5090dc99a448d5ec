"""The model API's dependencies as `Annotated` aliases, as the read API's (`turnpoint.api.deps`).

    async def predict_forecast(predictor: Pred, trace: Trace,
                               req: Annotated[ForecastRequest, Depends(body(ForecastRequest))]) -> Response: ...

`create_app` puts the predictor and the item limit on `app.state` once. Bodies are validated by
pydantic-core straight from the request's bytes (422 naming the first field, 413 above the item limit);
the dependencies are `async def` so FastAPI runs none of them on its thread pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ValidationError

from turnpoint.model import ecs
from turnpoint.model.predictor import Predictor
from turnpoint.web.fastapi import from_state
from turnpoint.web.problems import ProblemError, field_errors

B = TypeVar("B", bound=BaseModel)

Pred = Annotated[Predictor, Depends(from_state("predictor"))]


async def trace_id(request: Request) -> str:
    """The trace of the caller's `traceparent` header, or a new one."""
    return ecs.trace_from_traceparent(request.headers.get("traceparent")) or ecs.new_trace_id()


Trace = Annotated[str, Depends(trace_id)]


def body(model: type[B]) -> Callable[[Request], Awaitable[B]]:
    """A dependency validating the whole body with `model` (every request model has `items`)."""
    async def dependency(request: Request) -> B:
        raw = await request.body()
        try:
            parsed = model.model_validate_json(raw)
        except ValidationError as exc:
            errors = field_errors(exc.errors())
            msg = f"{errors[0]['field'] if errors[0]['field'] != 'request' else 'body'}: {errors[0]['message']}"
            raise ProblemError(422, "Invalid request body", msg, errors=errors) from None
        max_items: int = request.app.state.max_items
        n = len(getattr(parsed, "items"))  # noqa: B009 - every request model has `items`; BaseModel types none
        if n > max_items:
            msg = f"{n} items in one request; send at most {max_items} (TURNPOINT_MODEL__HTTP_MAX_ITEMS)"
            raise ProblemError(413, "Too many items", msg)
        return parsed

    dependency.__name__ = f"body_{model.__name__}"
    return dependency
