"""`turnpoint db`: the password never reaches a command line; binaries are found; the TOC filter is exact."""

from __future__ import annotations

from pathlib import Path

import pytest
from turnpoint.cli.db import BackupError, Connection, _without_schema_entry, find_binary


def test_the_password_travels_in_the_environment_only() -> None:
    conn = Connection.parse("postgresql://turnpoint:s3cr%40t@db.example:5433/results?sslmode=require")
    assert "s3cr" not in conn.dbname and "password" not in conn.dbname
    assert {"host=db.example", "port=5433", "dbname=results", "sslmode=require"} <= set(conn.dbname.split())
    assert conn.env()["PGPASSWORD"] == "s3cr@t"


def test_binaries_come_from_pg_bin_or_the_bundled_postgres(tmp_path: Path) -> None:
    assert find_binary("pg_dump").name == "pg_dump"  # pgserver's PostgreSQL 16 in this environment
    with pytest.raises(BackupError, match="--pg-bin"):
        find_binary("pg_dump", tmp_path)
    fake = tmp_path / "pg_restore"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert find_binary("pg_restore", tmp_path) == fake


def test_only_the_schema_entry_of_that_schema_is_skipped() -> None:
    toc = [
        "; Archive created at 2026-12-01",
        "4; 2615 2200 SCHEMA - public pg_database_owner",
        "2719; 0 0 COMMENT - SCHEMA public pg_database_owner",
        "5; 2615 16400 SCHEMA - archive postgres",
        "227; 1259 16508 TABLE public api_token postgres",
    ]
    out = _without_schema_entry(toc, "public")
    assert out[1] == ";4; 2615 2200 SCHEMA - public pg_database_owner"
    assert out[0] == toc[0] and out[2:] == toc[2:]
