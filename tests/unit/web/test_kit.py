"""The HTTP edge kit: one problem shape, liveness separate from readiness, on FastAPI, aiohttp and http.server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient as AioClient
from aiohttp.test_utils import TestServer
from fastapi import FastAPI, Query, Request
from fastapi.testclient import TestClient
from turnpoint.web.aiohttp import problem_middleware
from turnpoint.web.fastapi import health_router, install_problems
from turnpoint.web.problems import PROBLEM_JSON, ProblemError, field_errors
from turnpoint.web.stdlib import serve_health
from turnpoint.web.tokens import hash_token


def _is_problem(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status
    assert r.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["type"]
    for e in body.get("errors", []):
        assert set(e) == {"field", "message"}
    return body


def test_field_errors_name_the_dotted_path() -> None:
    errors = [{"loc": ("query", "from"), "msg": "bad"}, {"loc": (0, "people"), "msg": "neg"}, {"loc": (), "msg": "x"}]
    assert field_errors(errors) == [{"field": "from", "message": "bad"}, {"field": "0.people", "message": "neg"},
                                    {"field": "request", "message": "x"}]


def test_the_token_hash_is_sha256_hex() -> None:
    assert hash_token("a") == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"


def _fastapi_app(ready: bool) -> FastAPI:
    app = FastAPI()
    seen: list[int] = []
    app.state.seen = seen
    install_problems(app, "test", on_problem=seen.append)

    async def check(_request: Request) -> tuple[bool, dict[str, Any]]:
        return ready, {"database": {"ok": ready}}

    app.include_router(health_router("test", check))

    @app.get("/items")
    async def items(limit: int = Query(ge=1)) -> dict[str, int]:
        return {"limit": limit}

    @app.get("/teapot")
    async def teapot() -> None:
        raise ProblemError(418, "I'm a teapot", "short and stout", {"X-Hint": "tea"}, slug="teapot")

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret internals")

    return app


def test_fastapi_errors_are_problems_of_one_shape() -> None:
    app = _fastapi_app(ready=True)
    client = TestClient(app, raise_server_exceptions=False)
    body = _is_problem(client.get("/items", params={"limit": 0}), 422)
    assert body["errors"][0]["field"] == "limit"
    assert _is_problem(client.get("/nothing"), 404)["instance"] == "/nothing"
    r = client.post("/items")
    _is_problem(r, 405)
    assert "GET" in r.headers["allow"]
    r = client.get("/teapot")
    assert _is_problem(r, 418)["type"].endswith("/teapot") and r.headers["x-hint"] == "tea"
    r = client.get("/crash")
    assert "secret" not in r.text and _is_problem(r, 500)["title"] == "Internal error"
    assert app.state.seen == [422, 404, 405, 418, 500]


@pytest.mark.parametrize("ready", [True, False])
def test_fastapi_liveness_never_depends_on_readiness(ready: bool) -> None:
    client = TestClient(_fastapi_app(ready))
    live = client.get("/healthz")
    assert live.status_code == 200 and live.json() == {"status": "ok", "service": "test"}
    r = client.get("/readyz")
    assert r.status_code == (200 if ready else 503) and r.json()["database"] == {"ok": ready}


@pytest.mark.parametrize("ready", [True, False])
def test_stdlib_server_liveness_readiness_and_problems(ready: bool) -> None:
    server = serve_health(0, "loader", lambda: (ready, {"state": "running" if ready else "retrying"}), host="127.0.0.1")
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert httpx.get(f"{base}/healthz").status_code == 200
        r = httpx.get(f"{base}/readyz")
        assert r.status_code == (200 if ready else 503) and r.json()["service"] == "loader"
        _is_problem(httpx.get(f"{base}/nope"), 404)
        r = httpx.post(f"{base}/healthz")
        _is_problem(r, 405)
        assert r.headers["allow"] == "GET, HEAD"
        assert httpx.get(f"{base}/metrics").status_code == 200
    finally:
        server.shutdown()
        server.server_close()


async def test_aiohttp_errors_are_problems() -> None:
    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def boom(_request: web.Request) -> web.Response:
        raise RuntimeError("internals")

    async def refused(_request: web.Request) -> web.Response:
        return web.Response(text="not ready", status=503)

    app = web.Application(middlewares=[problem_middleware("transform")])
    app.router.add_get("/ok", ok)
    app.router.add_get("/boom", boom)
    app.router.add_get("/refused", refused)
    async with AioClient(TestServer(app)) as client:
        assert (await client.get("/ok")).status == 200
        for path, method, status in (("/nothing", "GET", 404), ("/ok", "POST", 405), ("/boom", "GET", 500),
                                     ("/refused", "GET", 503)):
            r = await client.request(method, path)
            assert r.status == status and r.content_type == PROBLEM_JSON, path
            body = await r.json(content_type=None)
            assert body["status"] == status and body["instance"] == path
        assert "internals" not in await (await client.get("/boom")).text()


def test_the_alerts_service_answers_problems_too() -> None:
    from turnpoint.alerts.web import create_app

    client = TestClient(create_app(lambda: (True, {}), lambda: (False, {"database": "down"})))
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 503
    _is_problem(client.get("/nothing"), 404)
    _is_problem(client.post("/healthz"), 405)
