"""`build_app(settings)`: the write API. POST /v1/counts, /v1/readings, /v1/bars; /healthz; /metrics.

Bodies are one record, a JSON array of records, or `{"items": [...]}`. Every record is validated against
its contract and every message is encoded and sized before anything is published (all or nothing); the
answer is 202 only after Kafka acknowledged every message. Errors are problem+json: 401 (no or unknown
token), 403 (scope), 413 (body too large, too many records, a record too large for a Kafka message: its
`index` is named), 422 (invalid JSON or records, reused idempotency key), 409 (same key still in
progress), 503 with Retry-After (Kafka did not acknowledge, PostgreSQL did not answer within
`db_timeout_seconds`, or publishing is held while `turnpoint dev up` replaces its broker; retry, with the
same Idempotency-Key). Expired idempotency keys are purged every
`idempotency_purge_seconds`.

Every write route takes the same `Annotated` dependencies (`write_api.deps`): `Meter` counts each answer by
route and status (401/403 included), `Caller` is the token verified for the route's scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import orjson
from fastapi import FastAPI, Request
from fastapi_offline import FastAPIOffline  # Swagger UI and ReDoc served locally (no CDN)
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.responses import Response

from turnpoint.core import topics
from turnpoint.core.freshness import JobBeats
from turnpoint.core.observability import get_logger
from turnpoint.core.same_origin import SameOriginPages
from turnpoint.core.strictjson import duplicate_key
from turnpoint.core.topics import TopicSpec
from turnpoint.ingest import metrics
from turnpoint.ingest.acks import publish_and_wait
from turnpoint.ingest.errors import DeliveryFailed
from turnpoint.ingest.tokens import TokenCache
from turnpoint.ingest.write_api.deps import Authorizer, Caller, Meter
from turnpoint.ingest.write_api.idempotency import IdempotencyStore
from turnpoint.ingest.write_api.plan import plan_messages
from turnpoint.ingest.write_api.problems import Problem
from turnpoint.web.fastapi import health_router, install_problems
from turnpoint.web.problems import field_errors

if TYPE_CHECKING:
    from turnpoint.ingest.service import IngestService
    from turnpoint.ingest.settings import IngestSettings

log = get_logger("turnpoint.ingest.write_api")

ROUTES: dict[str, tuple[TopicSpec, str]] = {
    "/v1/counts": (topics.COUNTS, "write:counts"),
    "/v1/readings": (topics.READINGS, "write:readings"),
    "/v1/bars": (topics.BARS, "write:bars"),
}
_adapters: dict[type[BaseModel], TypeAdapter[Any]] = {}


def _adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    if model not in _adapters:
        _adapters[model] = TypeAdapter(list[model])  # type: ignore[valid-type]
    return _adapters[model]


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing (413) more than `limit` bytes whether or not Content-Length was sent."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "Request body too large", f"the body has {declared} bytes; the limit is {limit}; "
                      "split the batch into several requests")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "Request body too large", f"the body exceeds the limit of {limit} bytes; "
                          "split the batch into several requests")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_records(body: bytes, model: type[BaseModel], max_items: int) -> list[dict[str, Any]]:
    """Validated records as JSON-ready dicts, or a 422 problem naming the first errors."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Problem(422, "Invalid JSON", f"the body is not JSON: {exc}") from None
    if (twice := duplicate_key(body)) is not None:  # parsers disagree on which value wins: refuse both
        raise Problem(422, "Invalid JSON", f"the key {twice[:100]!r} appears twice in one object; nothing was published")
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        items = doc["items"]
    elif isinstance(doc, list):
        items = doc
    elif isinstance(doc, dict):
        items = [doc]
    else:
        raise Problem(422, "Invalid body", "send one record, an array of records or {\"items\": [...]}")
    if not items:
        raise Problem(422, "Empty batch", "the batch holds no records")
    if len(items) > max_items:
        raise Problem(413, "Too many records", f"{len(items)} records; at most {max_items} per request")
    try:
        records = _adapter(model).validate_python(items)
    except ValidationError as exc:
        raise Problem(422, "Invalid records", f"{exc.error_count()} validation errors; nothing was published",
                      errors=field_errors(exc.errors())) from None
    return [r.model_dump(mode="json") for r in records]


def _db_unavailable(exc: BaseException) -> Problem:
    log.warning("database unavailable", error=f"{type(exc).__name__}: {exc}")
    return Problem(503, "Database unavailable", "PostgreSQL (tokens, idempotency keys) did not answer; nothing was "
                   "published: retry shortly (with the same Idempotency-Key)", {"Retry-After": "1"})


def _job_beat(publisher: Any, beats: JobBeats, job: str, rows: int) -> None:
    """Freshness of one token's posts (`ingest.http.<token name>` on turnpoint.jobs.v1); best effort: the
    readings are already acknowledged, and the next post reports the job again."""
    item = beats.beat(job, rows)
    if item is not None:
        try:
            publisher.send(topics.JOBS, job, [item])
        except Exception as exc:
            log.warning("job freshness not published", job=job, error=str(exc)[:200])


def build_app(settings: IngestSettings, service: IngestService | None = None) -> FastAPI:
    """The composition root of the HTTP side; `service` (publisher, watcher, serial) is bootstrapped if absent."""
    import psycopg
    from psycopg_pool import AsyncConnectionPool, PoolTimeout

    from turnpoint.ingest.service import bootstrap

    svc = service if service is not None else bootstrap(settings)
    beats = JobBeats()
    cfg = settings.ingest
    # a request waits at most `db_timeout_seconds` for a connection: PostgreSQL down is a 503 within a second
    pool = AsyncConnectionPool(settings.dsn(), min_size=1, max_size=8, open=False, timeout=cfg.db_timeout_seconds,
                               kwargs={"autocommit": True, "connect_timeout": 10})
    tokens = TokenCache(pool, cfg.token_cache_seconds)
    # a request holds its key at most for the acknowledgement wait; the margin covers the rest
    idem = IdempotencyStore(pool, cfg.idempotency_ttl_hours, stale_after_seconds=cfg.ack_timeout_seconds + 30)
    db_errors = (psycopg.Error, PoolTimeout)

    async def purge_forever() -> None:
        """Delete expired idempotency keys now and every `idempotency_purge_seconds`."""
        while True:
            try:
                purged = await idem.purge()
                if purged:
                    log.info("idempotency keys purged", rows=purged)
            except db_errors as exc:
                log.warning("idempotency purge failed; retried later", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(cfg.idempotency_purge_seconds)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await pool.open(wait=False)
        svc.start()
        purger = asyncio.create_task(purge_forever(), name="ingest-idempotency-purge")
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            svc.stop()
            await pool.close()

    app = FastAPIOffline(title="turnpoint ingest write API", version="1", lifespan=lifespan)
    app.state.service = svc
    app.state.idempotency = idem

    install_problems(app, "ingest", invalid_title="Invalid request")
    app.state.authorizer = Authorizer(tokens, {path: scope for path, (_spec, scope) in ROUTES.items()}, db_errors,
                                      _db_unavailable)

    async def ingest(request: Request, meter: Meter, info: Caller) -> Response:
        """Publish the records of one request; `meter` counts the answer, `info` holds the route's scope."""
        path = meter.route
        spec, _scope = ROUTES[path]
        body = await read_limited(request, cfg.max_body_bytes)
        records = parse_records(body, spec.item, cfg.max_batch_items)
        # every message is encoded and sized before the first produce: all or nothing
        messages = plan_messages(records, spec.key_field, cfg.batch_size, cfg.max_message_bytes)
        if not svc.gate.enter():  # the embedded broker is being replaced: nothing can be acknowledged now
            raise Problem(503, "Intake held", "the broker is being replaced (a planned recycle or a restart); "
                          "nothing was published: retry shortly (with the same Idempotency-Key)", {"Retry-After": "2"})
        try:
            return await publish(request, meter, info, spec, path, body, records, messages)
        finally:
            svc.gate.leave()

    async def publish(request: Request, meter: Meter, info: Any, spec: TopicSpec, path: str, body: bytes,
                      records: list[dict[str, Any]], messages: list[Any]) -> Response:
        """Publish the planned messages of one request and wait for their acknowledgements (gate entered)."""
        key = request.headers.get("idempotency-key")
        if key is not None:
            digest = hashlib.sha256(path.encode() + b"\0" + body).hexdigest()
            try:
                stored = await idem.begin(info.id, key, digest)
            except db_errors as exc:
                raise _db_unavailable(exc) from None
            if stored is not None:
                meter.status = stored[0]
                return Response(orjson.dumps(stored[1]), status_code=stored[0], media_type="application/json",
                                headers={"Idempotent-Replayed": "true"})
        topic = svc.publisher.topic(spec)
        try:
            sent = await publish_and_wait(svc.publisher, topic, messages, cfg.ack_timeout_seconds)
        except DeliveryFailed as exc:
            if key is not None:
                try:
                    await idem.release(info.id, key)
                except db_errors as db_exc:  # the reservation goes stale and a retry takes it over
                    log.warning("idempotency key not released", error=str(db_exc))
            log.warning("publish failed", topic=topic, error=str(exc))
            raise Problem(503, "Kafka unavailable", f"{exc}; nothing is guaranteed published: retry the "
                          "request (with the same Idempotency-Key)", {"Retry-After": "5"}) from None
        answer = {"accepted": len(records), "messages": sent, "topic": spec.name,
                  "keys": len({m.key for m in messages})}
        if key is not None:
            answer["idempotency_key"] = key
            try:
                await idem.complete(info.id, key, 202, answer)
            except db_errors as exc:  # published: answer 202; a retry with the key republishes (same keys)
                log.warning("idempotency answer not stored", error=str(exc))
        metrics.RECORDS.labels("http", spec.name).inc(len(records))
        _job_beat(svc.publisher, beats, f"ingest.http.{info.name}", len(records))
        meter.status = 202
        return Response(orjson.dumps(answer), status_code=202, media_type="application/json")

    for route, (spec, _scope) in ROUTES.items():
        # a generated client gets post_readings, post_counts, post_bars (not FastAPI's path-derived ids)
        app.add_api_route(route, ingest, methods=["POST"], status_code=202, name=route,
                          operation_id=f"post_{route.rstrip('/').rsplit('/', 1)[-1].replace('-', '_')}",
                          summary=f"Publish {spec.item.__name__} records to {spec.name}")

    async def ready(_request: Request) -> tuple[bool, dict[str, Any]]:
        """Kafka's delivery pollers run and PostgreSQL (tokens, idempotency keys) answers within its timeout."""
        ok, detail = svc.health()
        try:
            async with pool.connection() as conn:
                await conn.execute("SELECT 1")
            detail["database"] = {"ok": True}
        except db_errors as exc:
            ok, detail["database"] = False, {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return ok, detail

    app.include_router(health_router("ingest", ready))

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(SameOriginPages)  # Swagger UI and ReDoc load nothing from another host
    return app
