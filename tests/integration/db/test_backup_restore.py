"""`turnpoint db backup` / `restore`: the embedded PostgreSQL dumped, restored into a fresh database, equal.

Every table of every schema is compared row by row (as sorted text), and sequences continue where they
were; a damaged dump, an existing target and an unknown schema are refused with a message.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner
from turnpoint.cli.db import BackupError, app, backup, restore

pytestmark = pytest.mark.timeout(180)


def _seed(url: str) -> None:
    from turnpoint.loader.migrations import migrate

    migrate(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA archive")
        conn.execute("CREATE TABLE archive.note (id int PRIMARY KEY, body text, at timestamptz)")
        conn.execute("INSERT INTO archive.note VALUES (1, 'ünïcode ✓', '2025-01-02T03:04:05+09:00'), (2, NULL, NULL)")
        conn.execute(
            "INSERT INTO price (symbol, interval, start, \"end\", open, high, low, close, volume, bars) "
            "SELECT 'S' || (g % 7), 'day', date '2024-01-01' + g, date '2024-01-01' + g, g, g + 1, g - 1, "
            "g + 0.5, g * 10, 1 FROM generate_series(1, 500) g")
        conn.execute("INSERT INTO api_token (name, token_hash, scopes, expires_at) VALUES "
                     "('a', repeat('a', 64), '{read}', now() + interval '90 days'), ('b', repeat('b', 64), '{}', NULL)")
        conn.execute("INSERT INTO symbol (symbol, name, market, status, designations) "
                     "VALUES ('S1', 'One', 'KOSPI', 'listed', '{a,b}')")


def _tables(url: str) -> dict[str, list[str]]:
    """{schema.table: every row as text, sorted} for every table of every user schema."""
    with psycopg.connect(url) as conn:
        names = conn.execute(
            "SELECT schemaname || '.' || tablename FROM pg_tables "
            "WHERE schemaname !~ '^pg_' AND schemaname <> 'information_schema' ORDER BY 1").fetchall()
        return {n: sorted(r[0] for r in conn.execute(f"SELECT t::text FROM {n} t").fetchall()) for (n,) in names}


def test_backup_then_restore_into_a_fresh_database_gives_equal_tables(
        fresh_database: str, database_url: str, tmp_path: Path) -> None:
    from support.databases import scratch_database

    _seed(fresh_database)
    target = tmp_path / "backup-1"
    manifest = backup(fresh_database, target)
    assert set(manifest["schemas"]) == {"archive", "public"}
    assert sorted(p.name for p in target.iterdir()) == ["archive.dump", "manifest.json", "public.dump"]
    assert not (tmp_path / "backup-1.partial").exists()
    before = _tables(fresh_database)
    assert len(before["public.price"]) == 500 and len(before) > 5
    with scratch_database(database_url) as other:
        assert restore(other, target) == ["archive", "public"]
        assert _tables(other) == before
        with psycopg.connect(other, autocommit=True) as conn:  # sequences continue after the restored ids
            new_id = conn.execute("INSERT INTO api_token (name, token_hash) VALUES ('c', repeat('c', 64)) "
                                  "RETURNING id").fetchone()[0]  # type: ignore[index]
            assert new_id > max(r[0] for r in conn.execute("SELECT id FROM api_token WHERE name <> 'c'"))
            tokens = conn.execute("SELECT expires_at FROM api_token WHERE name = 'a'").fetchone()[0]  # type: ignore[index]
            assert tokens > dt.datetime.now(dt.UTC)


def test_one_schema_and_the_cli(fresh_database: str, database_url: str, tmp_path: Path) -> None:
    from support.databases import scratch_database

    _seed(fresh_database)
    runner = CliRunner()
    made = runner.invoke(app, ["backup", "--schema", "archive", "--database-url", fresh_database,
                               str(tmp_path / "b")])
    assert made.exit_code == 0, made.output
    again = runner.invoke(app, ["backup", "--database-url", fresh_database, str(tmp_path / "b")])
    assert again.exit_code == 1 and "exists" in again.output
    with scratch_database(database_url) as other:
        done = runner.invoke(app, ["restore", "--database-url", other, str(tmp_path / "b")])
        assert done.exit_code == 0, done.output
        assert _tables(other) == {"archive.note": _tables(fresh_database)["archive.note"]}
        # restoring again over the data needs --clean, and then gives the same rows
        assert runner.invoke(app, ["restore", "--database-url", other, str(tmp_path / "b")]).exit_code == 1
        assert runner.invoke(app, ["restore", "--clean", "--database-url", other, str(tmp_path / "b")]).exit_code == 0
        assert _tables(other) == {"archive.note": _tables(fresh_database)["archive.note"]}


def test_damaged_or_incomplete_backups_and_unknown_schemas_are_refused(fresh_database: str, tmp_path: Path) -> None:
    _seed(fresh_database)
    with pytest.raises(BackupError, match="no schema nope"):
        backup(fresh_database, tmp_path / "x", ["nope"])
    target = tmp_path / "b"
    backup(fresh_database, target, ["archive"])
    dump = target / "archive.dump"
    dump.write_bytes(dump.read_bytes()[:-10])
    with pytest.raises(BackupError, match="damaged"):
        restore(fresh_database, target)
    (target / "manifest.json").unlink()
    with pytest.raises(BackupError, match="not a complete backup"):
        restore(fresh_database, target)
