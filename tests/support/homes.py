"""Folders for `turnpoint dev up` stacks and embedded servers in tests."""

from __future__ import annotations

from pathlib import Path


def private_home(prefix: str) -> Path:
    """A folder for a `turnpoint dev up` stack or an embedded server, outside pytest's basetemp.

    pytest makes /tmp/pytest-of-<user> private (0700) at the start of every session, and pg_ctl runs as
    the pgserver user when we are root: a stack under the basetemp breaks as soon as another pytest starts."""
    import tempfile

    home = Path(tempfile.mkdtemp(prefix=prefix))
    home.chmod(0o755)
    return home
