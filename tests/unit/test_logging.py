"""Every line a service writes is one ECS JSON document with the service's `service.name`.

Run in a subprocess: configure_logging installs process-wide handlers and hooks."""

from __future__ import annotations

import subprocess
import sys

import orjson

PROGRAM = r'''
import logging, threading, warnings
from turnpoint.core.observability import configure_logging, get_logger
configure_logging("turnpoint-probe", "INFO", "json")
log = get_logger("probe")
log.info("structlog line", rows=3)
try:
    1 / 0
except ZeroDivisionError:
    log.error("failed with a string error", error="division broke", exc_info=True)
logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/v1/x", "1.1", 200)
logging.getLogger("faust").warning("a library line")
t = threading.Thread(target=lambda: log.info("from a thread")); t.start(); t.join()
warnings.warn("a library warning")
raise RuntimeError("nobody caught this")
'''


def test_every_line_is_ecs_json_with_the_service_name() -> None:
    done = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=False)
    lines = [ln for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
    docs = [orjson.loads(ln) for ln in lines]  # a plain-text line fails here
    assert len(docs) == 8, lines
    assert {d["service"]["name"] for d in docs} == {"turnpoint-probe"}
    for d in docs:
        assert "level" not in d and "timestamp" not in d, d  # ECS has log.level and @timestamp only
        assert d["log.level"] if "log.level" in d else d["log"]["level"]
    by_message = {d["message"]: d for d in docs}
    failed = by_message["failed with a string error"]
    assert failed["error"]["message"] == "division broke" and "ZeroDivisionError" in failed["error"]["stack_trace"]
    access = by_message['127.0.0.1:5 - "GET /v1/x HTTP/1.1" 200']
    assert access["http"]["request"]["method"] == "GET" and access["http"]["response"]["status_code"] == 200
    assert access["url"]["path"] == "/v1/x"
    assert by_message["from a thread"]["service"]["name"] == "turnpoint-probe"
    uncaught = [d for d in docs if d["message"].startswith("uncaught exception")]
    assert len(uncaught) == 1 and "nobody caught this" in uncaught[0]["error"]["message"]
