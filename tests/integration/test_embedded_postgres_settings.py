"""The embedded PostgreSQL runs with the server settings of `turnpoint.cli.embedded.SERVER_SETTINGS`, and
still flushes every commit."""

from __future__ import annotations

import psycopg
import pytest

from turnpoint.cli.embedded import SERVER_SETTINGS


@pytest.mark.skip_ok_in_ci("an external DATABASE_URL server has its own settings")
def test_the_embedded_server_runs_with_its_settings_and_durable_commits(pg_server: dict[str, object]) -> None:
    if pg_server["pgdata"] is None:
        pytest.skip("DATABASE_URL points at an external server")
    with psycopg.connect(str(pg_server["url"]), autocommit=True) as conn:
        shown = {name: conn.execute(f"SHOW {name}").fetchone()[0] for name in [*SERVER_SETTINGS, "fsync",  # type: ignore[index]
                                                                               "synchronous_commit"]}
    assert {name: shown[name] for name in SERVER_SETTINGS} == SERVER_SETTINGS
    assert shown["fsync"] == "on"
    assert shown["synchronous_commit"] == "on"
