"""A consumed Kafka message as the loader's `Batch` reads it (topic, partition 0, offset, value), without a broker."""

from __future__ import annotations


class Message:
    def __init__(self, topic: str, value: bytes, offset: int = 0) -> None:
        self._topic, self._value, self._offset = topic, value, offset

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return None

    def value(self) -> bytes:
        return self._value

    def error(self) -> None:
        return None
