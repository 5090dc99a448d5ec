"""One webhook POST: JSON body, `Idempotency-Key: <id>`, the rule's timeout; 2xx means delivered."""

from __future__ import annotations

import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from turnpoint.core.alerts.delivery import body
from turnpoint.core.alerts.model import Alert
from turnpoint.core.alerts.rules import Rule


@dataclass(frozen=True, slots=True)
class Response:
    ok: bool
    code: int | None
    error: str | None
    text: str = ""


class Sender:
    def __init__(self, max_connections: int = 64) -> None:
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.client = httpx.Client(limits=limits, follow_redirects=False)

    def send(self, rule: Rule, alert: Alert) -> Response:
        headers = {"Content-Type": "application/json", "Idempotency-Key": alert.id,
                   "User-Agent": "turnpoint-alerts/0.1"}
        try:
            r = self.client.post(rule.webhook, content=orjson.dumps(body(alert, rule.format)), headers=headers,
                                 timeout=rule.timeout_s)
        except httpx.HTTPError as exc:
            return Response(False, None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
        if 200 <= r.status_code < 300:
            return Response(True, r.status_code, None, r.text[:2000])
        return Response(False, r.status_code, f"HTTP {r.status_code}: {r.text[:300]}", r.text[:2000])

    def close(self) -> None:
        self.client.close()


class AsyncSender:
    """The notifier's sender: aiohttp on an event loop of its own thread, keep-alive connections to each
    receiver, at most `max_connections` POSTs in flight (a third of httpx's CPU per request)."""

    def __init__(self, max_connections: int = 64) -> None:
        import asyncio

        self.max_connections = max_connections
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="alerts-http", daemon=True)
        self._thread.start()
        self._session: Any = None
        self._slots: Any = None

    async def _session_(self) -> Any:
        import asyncio

        import aiohttp

        if self._slots is None:  # the timeout covers the POST, not the wait for a free connection
            self._slots = asyncio.Semaphore(self.max_connections)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=self.max_connections),
                json_serialize=lambda v: orjson.dumps(v).decode(), auto_decompress=True,
            )
        return self._session

    async def send(self, rule: Rule, alert: Alert) -> Response:
        import aiohttp

        session = await self._session_()
        headers = {"Content-Type": "application/json", "Idempotency-Key": alert.id,
                   "User-Agent": "turnpoint-alerts/0.1"}
        try:
            async with self._slots, session.post(rule.webhook, data=orjson.dumps(body(alert, rule.format)), headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=rule.timeout_s), allow_redirects=False) as r:
                text = (await r.text(errors="replace"))[:2000]
        except (aiohttp.ClientError, TimeoutError) as exc:
            return Response(False, None, f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= r.status < 300:
            return Response(True, r.status, None, text)
        return Response(False, r.status, f"HTTP {r.status}: {text[:300]}", text)

    def submit(self, coro: Coroutine[Any, Any, None]) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        import asyncio

        async def shutdown() -> None:
            if self._session is not None:
                await self._session.close()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
