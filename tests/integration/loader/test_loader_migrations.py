"""Migrations: from empty, idempotent, from the previous version, and refusing a changed migration."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest
from loader_helpers import query  # type: ignore[import-not-found]

AGREED = {
    "symbol", "price", "rebound_leg", "rebound_state", "calendar_stat", "outlier", "reading", "prediction",
    "job_info", "api_token",
}


def _copy_package(dest: Path) -> Path:
    src = resources.files("turnpoint.core.migrations")
    dest.mkdir()
    for entry in src.iterdir():
        if entry.name.endswith(".sql"):
            (dest / entry.name).write_text(entry.read_text(encoding="utf-8"), encoding="utf-8")
    return dest


def test_from_empty_creates_every_agreed_table_and_is_idempotent(fresh_database: str) -> None:
    from turnpoint.loader.migrations import discover, migrate

    first = migrate(fresh_database)
    assert [m.version for m in first] == [m.version for m in discover()]
    assert first[0].version == 1
    tables = {r[0] for r in query(fresh_database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables >= AGREED | {"schema_migrations"}
    assert migrate(fresh_database) == []
    recorded = query(fresh_database, "SELECT version, checksum FROM schema_migrations ORDER BY version")
    assert [(m.version, m.checksum) for m in discover()] == [(int(v), c) for v, c in recorded]


def test_from_the_previous_version_applies_only_the_new_one(fresh_database: str, tmp_path: Path) -> None:
    from turnpoint.loader.migrations import migrate

    folder = _copy_package(tmp_path / "m")
    migrate(fresh_database, folder)
    (folder / "9001_add_note.sql").write_text("ALTER TABLE price ADD COLUMN note text;\n", encoding="utf-8")
    applied = migrate(fresh_database, folder)
    assert [m.version for m in applied] == [9001]
    cols = {r[0] for r in query(fresh_database, "SELECT column_name FROM information_schema.columns WHERE table_name = 'price'")}
    assert "note" in cols


def test_a_changed_applied_migration_is_refused(fresh_database: str, tmp_path: Path) -> None:
    from turnpoint.loader.errors import MigrationError
    from turnpoint.loader.migrations import migrate

    folder = _copy_package(tmp_path / "m")
    migrate(fresh_database, folder)
    first = sorted(folder.glob("0001_*.sql"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n-- edited\n", encoding="utf-8")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(fresh_database, folder)


def test_a_failing_migration_is_rolled_back_and_reported(fresh_database: str, tmp_path: Path) -> None:
    from turnpoint.loader.errors import MigrationError
    from turnpoint.loader.migrations import discover, migrate

    folder = _copy_package(tmp_path / "m")
    (folder / "9002_broken.sql").write_text("CREATE TABLE half (a int);\nSELECT nonsense FROM nowhere;\n")
    with pytest.raises(MigrationError, match="9002_broken failed"):
        migrate(fresh_database, folder)
    assert query(fresh_database, "SELECT to_regclass('half')")[0][0] is None
    assert query(fresh_database, "SELECT max(version) FROM schema_migrations")[0][0] == discover()[-1].version
    shutil.rmtree(folder)


def test_the_cli_migrates(fresh_database: str) -> None:
    from turnpoint.loader.cli import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["migrate", "--database-url", fresh_database])
    assert result.exit_code == 0, result.output
    assert "applied 0001_initial" in result.output
    again = CliRunner().invoke(app, ["migrate", "--database-url", fresh_database])
    assert again.exit_code == 0 and "up to date" in again.output


def test_latest_bar_from_0002_is_backfilled_with_each_symbols_newest_daily_bar(fresh_database: str,
                                                                                tmp_path: Path) -> None:
    from turnpoint.loader.migrations import migrate

    folder = _copy_package(tmp_path / "m")
    later = [p for p in folder.glob("*.sql") if int(p.name[:4]) >= 3]
    held = tmp_path / "held"
    held.mkdir()
    for p in later:
        p.rename(held / p.name)
    assert [m.version for m in migrate(fresh_database, folder)] == [1, 2]
    query(fresh_database, """
        INSERT INTO price (symbol, interval, start, "end", open, high, low, close, volume)
        VALUES ('A', 'day', '2024-01-02', '2024-01-02', 1, 2, 0.5, 1.5, 10),
               ('A', 'day', '2024-01-05', '2024-01-05', 5, 6, 4.5, 5.5, 50),
               ('A', 'week', '2024-01-08', '2024-01-12', 9, 9, 9, 9, 90),
               ('B', 'day', '2024-01-03', '2024-01-03', 3, 4, 2.5, 3.5, 30),
               ('C', 'month', '2024-01-01', '2024-01-31', 7, 7, 7, 7, 70)
        RETURNING 1""")
    for p in held.iterdir():
        p.rename(folder / p.name)
    assert 3 in [m.version for m in migrate(fresh_database, folder)]
    rows = query(fresh_database, "SELECT symbol, start::text, open, high, low, close, volume FROM latest_bar ORDER BY 1")
    assert rows == [("A", "2024-01-05", 5.0, 6.0, 4.5, 5.5, 50.0), ("B", "2024-01-03", 3.0, 4.0, 2.5, 3.5, 30.0)]
    indexes = {r[0] for r in query(fresh_database, "SELECT indexdef FROM pg_indexes WHERE tablename = 'latest_bar'")}
    for col in ("close", "open", "high", "low", "volume"):
        assert f"USING btree ({col}, symbol)" in " ".join(indexes)
