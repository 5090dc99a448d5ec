"""A Content-Security-Policy for every HTML page a service serves (the dashboard, Swagger UI, ReDoc).

The pages must work with no internet, so they may load nothing from another host: the policy makes the
browser refuse any such load (ReDoc's bundle, for one, asks cdn.redoc.ly for its logo) instead of sending
it. Pure ASGI, no framework import; JSON routes pass straight through (one prefix test per request).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
          "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'; font-src 'self' data:; "
          "frame-ancestors 'self'; base-uri 'self'; form-action 'self'")
SKIP = ("/v1/", "/healthz", "/readyz", "/metrics")


class SameOriginPages:
    """Adds `Content-Security-Policy: POLICY` to the `text/html` responses of `app`."""

    def __init__(self, app: ASGIApp, skip: tuple[str, ...] = SKIP) -> None:
        self.app = app
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith(self.skip):
            await self.app(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if any(k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers):
                    headers.append((b"content-security-policy", POLICY.encode()))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_policy)
