"""The loader's errors. Every message says what was wrong and what to do about it."""

from __future__ import annotations

from turnpoint.core.errors import ConfigurationError, InfrastructureUnavailable, TurnpointError


class LoaderError(TurnpointError):
    """Base class of the loader's errors."""


class MigrationError(LoaderError):
    """A migration file is malformed, failed, or differs from the version already applied."""


class DatabaseUnavailable(LoaderError, InfrastructureUnavailable):
    """The database did not answer or dropped the connection; the loader retries with backoff."""


class RowRejected(LoaderError):
    """The database rejected a row (constraint violation or bad data); it goes to the dead-letter topic."""

    def __init__(self, sqlstate: str | None, detail: str) -> None:
        super().__init__(f"{sqlstate or 'rejected'}: {detail}")
        self.sqlstate = sqlstate
        self.detail = detail


__all__ = [
    "ConfigurationError",
    "DatabaseUnavailable",
    "LoaderError",
    "MigrationError",
    "RowRejected",
]
