"""Two embedded stacks never share a server: a port another server took after it was chosen is refused.

Seen while several stacks started at once: `start_postgres` found the chosen port answering (another stack's
server had just taken it) and used that server's database; when the other stack stopped, this one lost its
database mid-run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict
from support.homes import private_home

from turnpoint.cli.embedded import PortTaken, start_broker, start_postgres
from turnpoint.core.errors import InfrastructureUnavailable


def test_postgres_refuses_a_port_another_server_answers(database_url: str) -> None:
    port = int(conninfo_to_dict(database_url)["port"])  # type: ignore[arg-type]
    home = private_home("turnpoint-ports-")
    try:
        with pytest.raises(PortTaken, match=f"port {port} is taken"):
            start_postgres(home / "pg", port)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_broker_refuses_a_port_another_broker_answers(kafka_bootstrap: str, tmp_path: Path) -> None:
    port = int(kafka_bootstrap.rsplit(":", 1)[1])
    with pytest.raises(InfrastructureUnavailable):
        start_broker(port, tmp_path / "broker.log")
