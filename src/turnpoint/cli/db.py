"""`turnpoint db backup|restore`: PostgreSQL dumps per schema with pg_dump/pg_restore (custom format).

A backup is a directory: `<schema>.dump` per schema (`pg_dump --format=custom --schema=S`) and
`manifest.json` (schemas, files, sha256, server and pg_dump versions, time). It is written to
`DIR.partial` and renamed to DIR at the end, so a directory named DIR is always a complete backup. The
restore checks every file's sha256 before it runs `pg_restore --single-transaction --exit-on-error`
per schema (all of a schema or nothing).

The binaries: `--pg-bin DIR`, else the ones pgserver ships in this environment (PostgreSQL 16, also in the
image), else `pg_dump`/`pg_restore` on PATH. The password travels in PGPASSWORD, never on a command line.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from turnpoint.core.errors import TurnpointError

app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Back up and restore the PostgreSQL database (pg_dump/pg_restore, custom format).")

MANIFEST = "manifest.json"
FORMAT = "turnpoint-backup/1"
_SCHEMAS = ("SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' "
            "ORDER BY nspname")


class BackupError(TurnpointError):
    """A backup or restore could not be carried out; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Connection:
    """pg_dump/pg_restore arguments for a database URL: a conninfo without password, and the password."""

    dbname: str
    password: str | None

    @classmethod
    def parse(cls, url: str) -> Connection:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        parts = conninfo_to_dict(url)
        password = parts.pop("password", None)
        return cls(make_conninfo(**parts), str(password) if password is not None else None)  # type: ignore[arg-type]

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env


def find_binary(name: str, pg_bin: Path | None = None) -> Path:
    """`name` (pg_dump, pg_restore) from `pg_bin`, pgserver's installation, or PATH."""
    candidates: list[Path] = []
    if pg_bin is not None:
        candidates.append(pg_bin / name)
    else:
        try:
            import pgserver

            candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin" / name)
        except ImportError:
            pass
        on_path = shutil.which(name)
        if on_path:
            candidates.append(Path(on_path))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    msg = f"{name} not found (looked in {', '.join(map(str, candidates)) or 'PATH'}); pass --pg-bin DIR"
    raise BackupError(msg)


def _run(cmd: list[str], conn: Connection) -> str:
    done = subprocess.run(cmd, env=conn.env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"{Path(cmd[0]).name} failed (exit {done.returncode}): {done.stderr.strip()}"
        raise BackupError(msg)
    return done.stdout


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def database_schemas(url: str) -> tuple[list[str], str]:
    """The user schemas of the database (not pg_*, not information_schema) and the server version."""
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as conn:
        schemas = [r[0] for r in conn.execute(_SCHEMAS).fetchall()]
        version = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    return schemas, version


def backup(url: str, target: Path, schemas: list[str] | None = None, pg_bin: Path | None = None) -> dict[str, Any]:
    """Dump each schema (default: all user schemas) into the new directory `target`; returns the manifest."""
    if target.exists():
        msg = f"{target} exists; give a new directory (a backup never overwrites one)"
        raise BackupError(msg)
    conn = Connection.parse(url)
    pg_dump = find_binary("pg_dump", pg_bin)
    present, server = database_schemas(url)
    wanted = schemas or present
    missing = [s for s in wanted if s not in present]
    if missing:
        msg = f"no schema {', '.join(missing)} in the database; it has {', '.join(present)}"
        raise BackupError(msg)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    files: dict[str, dict[str, str]] = {}
    for schema in wanted:
        path = partial / f"{schema}.dump"
        _run([str(pg_dump), "--format=custom", f"--schema={schema}", f"--file={path}", f"--dbname={conn.dbname}"],
             conn)
        files[schema] = {"file": path.name, "sha256": _sha256(path)}
    manifest = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "server_version": server,
        "pg_dump": _run([str(pg_dump), "--version"], conn).strip(),
        "schemas": files,
    }
    (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    partial.rename(target)
    return manifest


def read_manifest(source: Path) -> dict[str, Any]:
    path = source / MANIFEST
    if not path.is_file():
        msg = f"{path} is missing: {source} is not a complete backup (an interrupted one ends in .partial)"
        raise BackupError(msg)
    manifest: dict[str, Any] = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        msg = f"{path}: unknown format {manifest.get('format')!r}, expected {FORMAT!r}"
        raise BackupError(msg)
    for schema, entry in manifest["schemas"].items():
        dump = source / entry["file"]
        if not dump.is_file() or _sha256(dump) != entry["sha256"]:
            msg = f"{dump}: missing or damaged (sha256 differs from {MANIFEST}); schema {schema} cannot be restored"
            raise BackupError(msg)
    return manifest


def restore(url: str, source: Path, clean: bool = False, pg_bin: Path | None = None) -> list[str]:
    """Restore every schema of the backup `source` into the database; returns the schemas restored.

    Into an empty database by default; `clean` drops the backup's objects first (`--clean --if-exists`).
    """
    manifest = read_manifest(source)
    conn = Connection.parse(url)
    pg_restore = find_binary("pg_restore", pg_bin)
    present, _server = database_schemas(url)
    done = []
    for schema, entry in manifest["schemas"].items():
        dump = source / entry["file"]
        cmd = [str(pg_restore), "--single-transaction", "--exit-on-error", "--no-owner",
               f"--dbname={conn.dbname}"]
        if clean:
            cmd += ["--clean", "--if-exists"]
        with tempfile.TemporaryDirectory(prefix="turnpoint-restore-") as tmp:
            if schema in present:  # every database has `public`: restore into it instead of creating it
                listing = Path(tmp) / "toc.list"
                toc = _run([str(pg_restore), "--list", str(dump)], conn).splitlines()
                listing.write_text("\n".join(_without_schema_entry(toc, schema)) + "\n")
                cmd.append(f"--use-list={listing}")
            try:
                _run([*cmd, str(dump)], conn)
            except BackupError as exc:
                hint = "; restore into an empty database or pass --clean" if "already exists" in str(exc) else ""
                msg = f"schema {schema}: {exc}{hint}"
                raise BackupError(msg) from None
        done.append(schema)
    return done


def _without_schema_entry(toc: list[str], schema: str) -> list[str]:
    """A pg_restore table of contents with the `SCHEMA - <schema>` entry commented out."""
    return [f";{line}" if line.split(" ", 1)[-1].split()[2:5] == ["SCHEMA", "-", schema] else line for line in toc]


def _url(database_url: str | None) -> str:
    if database_url:
        return database_url
    from turnpoint.core.settings import TurnpointSettings

    return TurnpointSettings().dsn()


URL_OPT = typer.Option("--database-url", help="PostgreSQL URL; default: TURNPOINT_DATABASE_URL / DATABASE_URL.")
PG_BIN_OPT = typer.Option("--pg-bin", help="Directory with pg_dump/pg_restore (default: pgserver's, then PATH).")


@app.command("backup")
def backup_cmd(
    target: Annotated[Path, typer.Argument(help="A new directory for the dumps and manifest.json.")],
    schema: Annotated[list[str] | None, typer.Option("--schema", help="A schema to dump; repeat it (default: all).")] = None,
    database_url: Annotated[str | None, URL_OPT] = None,
    pg_bin: Annotated[Path | None, PG_BIN_OPT] = None,
) -> None:
    """Dump each schema with pg_dump (custom format) into DIR, with a manifest of sha256 sums."""
    try:
        manifest = backup(_url(database_url), target, schema or None, pg_bin)
    except (BackupError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"backed up {', '.join(manifest['schemas'])} to {target}")


@app.command("restore")
def restore_cmd(
    source: Annotated[Path, typer.Argument(help="A directory written by `turnpoint db backup`.")],
    clean: Annotated[bool, typer.Option("--clean", help="Drop the backup's objects first (restore over data).")] = False,
    database_url: Annotated[str | None, URL_OPT] = None,
    pg_bin: Annotated[Path | None, PG_BIN_OPT] = None,
) -> None:
    """Restore a backup with pg_restore, one transaction per schema (into an empty database unless --clean)."""
    try:
        schemas = restore(_url(database_url), source, clean, pg_bin)
    except (BackupError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"restored {', '.join(schemas)} from {source}")
