"""Shared fixtures: a real Kafka broker and a real PostgreSQL for the whole test session.

`TURNPOINT_TEST_KAFKA` (bootstrap servers) and `DATABASE_URL` name existing servers; otherwise an
embedded Tansu broker and an embedded PostgreSQL 16 (pgserver) are started once per session and
stopped at the end. Tests isolate themselves with unique topic prefixes, group ids and schemas.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.homes import private_home

REPO = Path(__file__).resolve().parents[1]
# The project owns its copy of the public conformance vectors (data, not code): no key test depends on a
# folder outside the repository. tests/unit/test_conformance.py checks the copy against ../shared when present.
CONFORMANCE = REPO / "tests" / "data" / "conformance"
ALLOW_SKIP_MARKER = "skip_ok_in_ci"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{ALLOW_SKIP_MARKER}(reason): a skip of this test is legitimate in CI (the reason says why)")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """Under CI=true a skipped test is a failure: a required test that skips hides a missing feature.

    Only a test marked `skip_ok_in_ci("why")` may skip in CI (none is today)."""
    outcome = yield
    report = outcome.get_result()
    if not (_in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    if item.get_closest_marker(ALLOW_SKIP_MARKER) is not None:
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CI=true, which is a failure for a required test: {reason}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test gets the marker of its folder: unit, integration or e2e."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(REPO / "tests").parts
        if parts and parts[0] in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    assert CONFORMANCE.is_dir(), f"conformance vectors missing from the repository at {CONFORMANCE}"
    return CONFORMANCE


@pytest.fixture(scope="session")
def embedded_root() -> Iterator[Path]:
    """A folder of its own for the session's embedded servers (not under pytest's rotating basetemp,
    which a concurrent pytest run may prune while our PostgreSQL still uses it)."""
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="turnpoint-embedded-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def stack_home() -> Iterator[Path]:
    """A TURNPOINT_HOME of its own for a module's `dev up` stack (see `private_home`), removed afterwards."""
    import shutil

    home = private_home("turnpoint-stack-")
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(embedded_root: Path) -> Iterator[str]:
    """Bootstrap servers of a real broker: `TURNPOINT_TEST_KAFKA`, else an embedded Tansu for the session."""
    external = os.environ.get("TURNPOINT_TEST_KAFKA")
    if external:
        yield external
        return
    from turnpoint.cli.embedded import free_port, start_broker, stop_pid

    handle = start_broker(free_port(), embedded_root / "broker.log")
    try:
        yield handle.bootstrap
    finally:
        stop_pid(handle.pid)


@pytest.fixture(scope="session")
def pg_server(embedded_root: Path) -> Iterator[dict[str, object]]:
    """A real PostgreSQL: `DATABASE_URL`, else an embedded PostgreSQL 16 for the session.

    Yields {"url": str, "pgdata": Path | None}; pgdata is set only for the embedded server (tests that
    stop and restart the database need it and skip otherwise).
    """
    external = os.environ.get("DATABASE_URL")
    if external:
        yield {"url": external, "pgdata": None, "port": None}
        return
    from turnpoint.cli.embedded import free_port, start_postgres, stop_postgres

    port = free_port()
    handle = start_postgres(embedded_root / "pg", port)
    try:
        yield {"url": handle.url, "pgdata": handle.pgdata, "port": port}
    finally:
        stop_postgres(handle.pgdata, mode="immediate")


@pytest.fixture(scope="session")
def database_url(pg_server: dict[str, object]) -> str:
    return str(pg_server["url"])


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    """A new empty database for one test, dropped afterwards; yields its URL."""
    from support.databases import scratch_database

    with scratch_database(database_url) as url:
        yield url


@pytest.fixture
def unique() -> str:
    """A short unique token for topic prefixes and group ids."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, unique: str):  # type: ignore[no-untyped-def]
    """KafkaSettings with a unique topic prefix for this test, topics of the catalogue created."""
    from turnpoint.core.kafka import ensure_topics
    from turnpoint.core.settings import KafkaSettings

    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap, topic_prefix=f"t{unique}.", partitions=2)
    ensure_topics(settings)
    return settings
