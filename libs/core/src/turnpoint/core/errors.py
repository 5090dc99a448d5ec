"""The error hierarchy of turnpoint.core.

Every error a user can meet says what was wrong and what to do about it.
"""

from __future__ import annotations


class TurnpointError(Exception):
    """Base class of every error raised by turnpoint code."""


class ConfigurationError(TurnpointError):
    """A setting is missing or invalid; the message names the environment variable."""


class InvalidRecord(TurnpointError):
    """A record failed validation. `reason` is a short machine-readable code for dead-letter topics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class InfrastructureUnavailable(TurnpointError):
    """The broker or the database did not answer; callers retry with backoff."""


class InputFileError(TurnpointError):
    """A whole input file was refused (missing, unreadable, unknown header, no symbol); the message names it."""
