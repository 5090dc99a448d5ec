"""The ingest service's errors. Each says what was wrong and what to do about it.

`IngestError` (a `TurnpointError`)
  `InputFileError`   (core's, raised by the shared file readers) a file cannot be read as any supported format
  `SerialConfigError` a serial port configuration file is invalid (names the file and the field)
  `DeliveryFailed`   Kafka did not acknowledge records in time (callers retry or spool)
  `TokenError`       a token command failed (unknown name, duplicate name)
"""

from __future__ import annotations

from turnpoint.core.errors import InputFileError, TurnpointError

__all__ = ["DeliveryFailed", "IngestError", "InputFileError", "SerialConfigError", "TokenError"]


class IngestError(TurnpointError):
    """Base of the ingest service's errors."""


class SerialConfigError(IngestError):
    """The serial configuration file is invalid."""


class DeliveryFailed(IngestError):
    """Kafka did not acknowledge the records within the timeout."""


class TokenError(IngestError):
    """A token command could not be carried out."""
