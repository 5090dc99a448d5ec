"""Line protocols: a bare value, CSV, key=value pairs, JSON lines; optional `*HH` XOR checksum.

`LineParser.parse(line)` returns the (series, value, unit, ts-or-None) tuples of one line, or raises
`LineError` with a reason for the dead-letter topic. Pure code: no port, no clock, no Kafka.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import orjson

from turnpoint.ingest.rows import RowError, parse_instant
from turnpoint.ingest.serial.config import Field_, PortConfig

Sample = tuple[str, float, str | None, dt.datetime | None]


class LineError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def xor8(data: bytes) -> int:
    c = 0
    for b in data:
        c ^= b
    return c


def _float(text: object, name: str) -> float:
    if isinstance(text, bool):  # a JSON true/false is no number (float(True) would be 1.0)
        reason = "bad-value"
        raise LineError(reason, f"{name}: {text!r} is not a number")
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        reason = "bad-value"
        raise LineError(reason, f"{name}: {text!r} is not a number") from None
    if not math.isfinite(value):
        reason = "bad-value"
        raise LineError(reason, f"{name}: {text!r} is not finite")
    return value


class LineParser:
    def __init__(self, cfg: PortConfig) -> None:
        self.cfg = cfg
        self._parse: Callable[[str], list[Sample]] = {
            "value": self._value, "csv": self._csv, "kv": self._kv, "json": self._json,
        }[cfg.protocol]

    def parse(self, raw: bytes) -> list[Sample]:
        line = raw.rstrip(b"\r\n")
        if self.cfg.checksum == "xor8":
            body, star, tail = line.rpartition(b"*")
            if not star or len(tail) != 2:
                reason = "no-checksum"
                raise LineError(reason, "the line has no *HH checksum")
            try:
                want = int(tail, 16)
            except ValueError:
                reason = "bad-checksum"
                raise LineError(reason, f"checksum {tail!r} is not hex") from None
            if xor8(body) != want:
                reason = "bad-checksum"
                raise LineError(reason, f"checksum {tail.decode('ascii', 'replace')} != {xor8(body):02X}")
            line = body
        try:
            text = line.decode(self.cfg.encoding)
        except UnicodeDecodeError:
            reason = "garbage"
            raise LineError(reason, f"the line is not {self.cfg.encoding}") from None
        if not text.isprintable():
            reason = "garbage"
            raise LineError(reason, "the line holds control characters")
        text = text.strip()
        if not text:
            return []
        return self._parse(text)

    def _value(self, text: str) -> list[Sample]:
        assert self.cfg.series is not None
        return [(self.cfg.series, _float(text, "value"), self.cfg.unit, None)]

    def _fields(self, pairs: dict[str, object]) -> list[Sample]:
        ts: dt.datetime | None = None
        tf = self.cfg.timestamp_field
        if tf is not None and tf in pairs:
            try:
                ts = parse_instant(str(pairs[tf]))
            except RowError as exc:
                raise LineError(exc.reason, str(exc)) from None
        out: list[Sample] = []
        for name, f in self.cfg.fields.items():
            if name in pairs:
                out.append(_sample(f, _float(pairs[name], name), ts))
        if not out:
            reason = "no-fields"
            raise LineError(reason, f"none of the configured fields {sorted(self.cfg.fields)} is in the line")
        return out

    def _csv(self, text: str) -> list[Sample]:
        cols = self.cfg.columns or []
        parts = text.split(",")
        if len(parts) != len(cols):
            reason = "bad-columns"
            raise LineError(reason, f"{len(parts)} values, expected {len(cols)} ({','.join(cols)})")
        return self._fields(dict(zip(cols, (p.strip() for p in parts), strict=True)))

    def _kv(self, text: str) -> list[Sample]:
        pairs: dict[str, object] = {}
        for part in text.replace(",", " ").replace(";", " ").split():
            k, eq, v = part.partition("=")
            if not eq or not k:
                reason = "bad-pair"
                raise LineError(reason, f"{part!r} is not key=value")
            pairs[k] = v
        return self._fields(pairs)

    def _json(self, text: str) -> list[Sample]:
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError:
            reason = "bad-json"
            raise LineError(reason, "the line is not a JSON object") from None
        if not isinstance(doc, dict):
            reason = "bad-json"
            raise LineError(reason, "the line is not a JSON object")
        return self._fields(doc)


def _sample(f: Field_, value: float, ts: dt.datetime | None) -> Sample:
    return (f.series, value * f.scale + f.offset, f.unit, ts)
