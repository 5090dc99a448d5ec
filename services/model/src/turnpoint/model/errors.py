"""Errors of the model service. Each says what was wrong and what to do about it.

    TurnpointError
    └── ModelError                 anything the model service raises on purpose
        ├── ModelUnavailable       no model of a kind in the registry yet (HTTP 503)
        ├── InvalidInput           an inference input failed validation (HTTP 422)
        ├── RegistryError          a registry folder or artifact is unusable
        └── TrainingError          training data cannot produce a model (too short, unreadable)
"""

from __future__ import annotations

from turnpoint.core.errors import TurnpointError


class ModelError(TurnpointError):
    """Base class of the model service's errors."""


class ModelUnavailable(ModelError):
    """No model of the requested kind is loaded."""


class InvalidInput(ModelError):
    """An input window is unusable; `item` is its index in the request, `field` the offending field."""

    def __init__(self, detail: str, item: int | None = None, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.item = item
        self.field = field


class RegistryError(ModelError):
    """The registry folder or an artifact in it is unusable."""


class TrainingError(ModelError):
    """The training data cannot produce a model."""
