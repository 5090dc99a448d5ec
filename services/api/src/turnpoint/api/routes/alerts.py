"""Alerts and job freshness (SPEC §6, issue #19): `GET /v1/alerts` and `GET /v1/jobs`.

Alerts are listed newest first (`at`, then id and status) with their delivery state; `status` filters
either the alert's status (firing, resolved) or its delivery (pending, delivered, suppressed).
Jobs carry `age_seconds` since their last success and `stale` against `TURNPOINT_API__JOBS_MAX_AGE_S`.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request

from turnpoint.api import cursor
from turnpoint.api import schemas as s
from turnpoint.api.pages import DEFAULT_LIMIT, page
from turnpoint.api.params import NO_NUL, Cursor, Limit
from turnpoint.api.responses import JSONResponse
from turnpoint.api.routes import Settings
from turnpoint.core.contracts import utcnow

router = APIRouter(prefix="/v1", tags=["alerts"])

AlertState = Literal["firing", "resolved", "pending", "delivered", "suppressed"]
Text = Annotated[str | None, Query(min_length=1, max_length=200, pattern=NO_NUL)]
FAR_FUTURE = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)

ALERTS = """
SELECT id, rule, kind, status, subject, at, value, message, details::text AS details, delivery, attempts,
       first_attempt_at, last_attempt_at, next_attempt_at, delivered_at, last_error, last_response
FROM alert
WHERE ($1::text IS NULL OR rule = $1) AND ($2::text IS NULL OR subject = $2)
  AND ($3::text IS NULL OR status = $3) AND ($4::text IS NULL OR delivery = $4)
  AND (at, id, status) < ($5, $6, $7)
ORDER BY at DESC, id DESC, status DESC
LIMIT $8
"""

JOBS = "SELECT job, status, last_success, rows, detail, updated_at FROM job_info ORDER BY job"


def _alert(row: Any) -> dict[str, Any]:
    item = dict(row)
    item["details"] = orjson.loads(item["details"]) if item["details"] else {}
    if item["delivery"] != "pending":
        item["next_attempt_at"] = None
    return item


@router.get("/alerts", response_model=s.Page[s.AlertOut], summary="Alerts with their delivery state (SPEC 6)")
async def alerts(request: Request, rule: Text = None, subject: Text = None, status: AlertState | None = None,
                 limit: Limit = DEFAULT_LIMIT, cursor_: Annotated[Cursor, Query(alias="cursor")] = None) -> JSONResponse:
    key: list[Any] = [FAR_FUTURE, "", ""]  # before any row: every `at` is earlier than FAR_FUTURE
    if cursor_:
        key = cursor.decode(cursor_, "alerts", [cursor.as_instant, cursor.as_str, cursor.as_str])
    alert_status = status if status in ("firing", "resolved") else None
    delivery = status if status in ("pending", "delivered", "suppressed") else None
    rows = await request.app.state.db.fetch(ALERTS, rule, subject, alert_status, delivery, *key, limit + 1)
    return JSONResponse(page(rows, limit, "alerts", lambda r: [r["at"], r["id"], r["status"]], _alert))


@router.get("/jobs", response_model=s.Page[s.JobOut], summary="Freshness of each job (stale past the maximum age)")
async def jobs(request: Request, settings: Settings) -> JSONResponse:
    now = utcnow()
    max_age = settings.api.jobs_max_age_s
    items = []
    for r in await request.app.state.db.fetch(JOBS):
        item = dict(r)
        success = item["last_success"]
        age = (now - success).total_seconds() if success is not None else None
        item["age_seconds"] = age
        item["max_age_seconds"] = max_age
        item["stale"] = age is None or age > max_age
        items.append(item)
    return JSONResponse({"items": items, "next_cursor": None})
