"""orjson responses: instants as UTC with `Z`, dates as ISO-8601, problem+json for errors."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse as _StarletteJSON

OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS


class JSONResponse(_StarletteJSON):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=OPTIONS)


class ProblemResponse(JSONResponse):
    media_type = "application/problem+json"
