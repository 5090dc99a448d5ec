"""turnpoint's HTTP edge kit, shared by every service (issue #16).

- `problems`: RFC 9457 problem+json bodies with one `errors` shape, `[{"field", "message"}]`;
- `health`: liveness (`/healthz`, the process answers) and readiness (`/readyz`, its dependencies answer);
- `tokens`: the one bearer-token hash (sha256 hex) stored in `api_token`;
- `fastapi` (extra `fastapi`): exception handlers, health routes and `Annotated` dependency helpers;
- `aiohttp` (extra `aiohttp`): the same problems for Faust's web server;
- `stdlib`: health and metrics on `http.server` for services without a web framework (the loader).

The pure modules import neither FastAPI nor aiohttp, so every service can use them.
"""
