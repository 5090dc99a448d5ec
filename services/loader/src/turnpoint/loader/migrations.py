"""The migration runner: applies `NNNN_name.sql` files in version order, once each, with checksums.

Applied versions are recorded in `schema_migrations(version, name, checksum, applied_at)`. A file whose
checksum differs from the one recorded when it was applied is refused: migrations are append-only, so a
change must come as a new file. Each migration runs in its own transaction together with its record,
under an advisory lock so that two loaders starting together do not race.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

import psycopg

from turnpoint.loader.errors import DatabaseUnavailable, MigrationError

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 0x7475726E  # "turn": one advisory lock shared by every migrator
DEFAULT_PACKAGE = "turnpoint.core.migrations"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(source: Traversable | Path | None = None) -> list[Migration]:
    """The migrations in a folder (default: the package turnpoint.core.migrations), in version order."""
    folder = source if source is not None else resources.files(DEFAULT_PACKAGE)
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        m = _NAME.match(entry.name)
        if m is None:
            msg = f"migration file {entry.name!r} is misnamed; name it NNNN_lowercase_name.sql"
            raise MigrationError(msg)
        version = int(m.group(1))
        if version in found:
            msg = f"two migrations share version {version:04d}: {found[version].name} and {m.group(2)}; renumber one"
            raise MigrationError(msg)
        found[version] = Migration(version, m.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


def applied(conn: psycopg.Connection) -> dict[int, tuple[str, str]]:
    """version -> (name, checksum) of the migrations recorded in the database."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return {}
    rows = conn.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
    return {int(v): (str(n), str(c)) for v, n, c in rows}


def _check_unchanged(migrations: Iterable[Migration], done: dict[int, tuple[str, str]]) -> None:
    for m in migrations:
        if m.version in done and done[m.version][1] != m.checksum:
            msg = (
                f"migration {m.version:04d}_{m.name} was changed after it was applied to this database "
                f"(checksum {done[m.version][1][:12]}… recorded, {m.checksum[:12]}… now). Applied migrations "
                "are append-only: restore the original file and put the change in a new migration."
            )
            raise MigrationError(msg)


def migrate(conninfo: str, source: Traversable | Path | None = None) -> list[Migration]:
    """Apply every pending migration; return those applied (none when the schema is current)."""
    migrations = discover(source)
    try:
        conn = psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        msg = f"cannot connect to the database to migrate it: {exc}. Check TURNPOINT_DATABASE_URL."
        raise DatabaseUnavailable(msg) from exc
    with conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(_CREATE_TABLE)
            done = applied(conn)
            _check_unchanged(migrations, done)
            newly: list[Migration] = []
            for m in migrations:
                if m.version in done:
                    continue
                try:
                    with conn.transaction():
                        conn.execute(m.sql.encode())
                        conn.execute(
                            "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                            (m.version, m.name, m.checksum),
                        )
                except psycopg.Error as exc:
                    msg = f"migration {m.version:04d}_{m.name} failed and was rolled back: {exc}"
                    raise MigrationError(msg) from exc
                newly.append(m)
            return newly
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
