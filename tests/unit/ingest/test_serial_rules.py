"""Pure serial code: line protocols, checksums, register decoding, receipt timestamps, config validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from turnpoint.ingest.errors import SerialConfigError
from turnpoint.ingest.serial.config import PortConfig, Register, load_serial_config
from turnpoint.ingest.serial.emit import Emitter
from turnpoint.ingest.serial.modbus import decode_registers, encode_registers
from turnpoint.ingest.serial.protocols import LineError, LineParser, xor8

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def test_bare_value_protocol() -> None:
    p = LineParser(PortConfig(name="p", device="/dev/null", series="boiler/temp", unit="degC"))
    assert p.parse(b" 61.5\r\n") == [("boiler/temp", 61.5, "degC", None)]
    assert p.parse(b"\r\n") == []
    with pytest.raises(LineError) as e:
        p.parse(b"61,5")
    assert e.value.reason == "bad-value"
    with pytest.raises(LineError, match="control characters"):
        p.parse(b"6\x071")


def test_csv_json_kv_with_device_timestamp_and_scale() -> None:
    fields = {"t": {"series": "a/t", "unit": "degC", "scale": 0.1}, "h": {"series": "a/h"}}
    csv = LineParser(PortConfig(name="c", device="x", protocol="csv", columns=["ts", "t", "h"], fields=fields,
                                timestamp_field="ts"))
    [t, h] = csv.parse(b"2025-01-01T09:00:00+09:00,215,40\n")
    assert t == ("a/t", 21.5, "degC", dt.datetime(2025, 1, 1, tzinfo=dt.UTC)) and h[1] == 40.0
    with pytest.raises(LineError, match="expected 3"):
        csv.parse(b"1,2\n")
    js = LineParser(PortConfig(name="j", device="x", protocol="json", fields=fields))
    assert [s[0] for s in js.parse(b'{"t": 200, "h": 1, "other": 3}')] == ["a/t", "a/h"]
    with pytest.raises(LineError, match="none of the configured fields"):
        js.parse(b'{"x": 1}')
    kv = LineParser(PortConfig(name="k", device="x", protocol="kv", fields=fields, checksum="xor8"))
    body = b"t=200;h=3"
    assert len(kv.parse(body + b"*%02X" % xor8(body))) == 2
    with pytest.raises(LineError) as e:
        kv.parse(body + b"*%02X" % (xor8(body) ^ 1))
    assert e.value.reason == "bad-checksum"


@given(st.data())
def test_register_encoding_round_trips(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(["int16", "uint16", "int32", "uint32", "float32", "int64", "float64"]))
    reg = Register(series="s", address=0, type=kind, byte_order=data.draw(st.sampled_from(["big", "little"])),
                   word_order=data.draw(st.sampled_from(["big", "little"])))
    bounds = {"int16": (-32768, 32767), "uint16": (0, 65535), "int32": (-(2**31), 2**31 - 1),
              "uint32": (0, 2**32 - 1), "int64": (-(2**53), 2**53)}
    if kind in bounds:
        value = float(data.draw(st.integers(*bounds[kind])))
    else:
        value = data.draw(st.floats(allow_nan=False, allow_infinity=False, width=32 if kind == "float32" else 64))
    words = encode_registers(value, reg)
    assert len(words) == reg.count and all(0 <= w <= 0xFFFF for w in words)
    assert decode_registers(words, reg) == value


def test_register_orders_known_values() -> None:
    # 0x12345678 as int32: big/big = [0x1234, 0x5678]; little word order = [0x5678, 0x1234]
    assert decode_registers([0x1234, 0x5678], Register(series="s", address=0, type="uint32")) == 0x12345678
    assert decode_registers([0x5678, 0x1234], Register(series="s", address=0, type="uint32", word_order="little")) == 0x12345678
    assert decode_registers([0x3412, 0x7856], Register(series="s", address=0, type="uint32", byte_order="little")) == 0x12345678
    assert decode_registers([0x08FE], Register(series="s", address=0, type="int16", scale=0.1)) == pytest.approx(230.2)


class _Sink:
    def __init__(self) -> None:
        self.sent: list[tuple[str, list[dict]]] = []
        self.jobs: list[dict] = []  # turnpoint.jobs.v1 (the port's freshness)

    def send(self, spec, key, items) -> None:  # type: ignore[no-untyped-def]
        if spec.name == "turnpoint.jobs.v1":
            self.jobs += items
            return
        self.sent.append((key, list(items)))

    def dead_letter(self, *a, **k) -> None:  # type: ignore[no-untyped-def]
        raise AssertionError


def test_receipt_timestamps_strictly_increase_per_series() -> None:
    sink = _Sink()
    em = Emitter(sink, "serial:p")
    at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    em.add([("a", 1.0, None, None), ("a", 2.0, None, None), ("b", 3.0, None, None)], at)
    em.add([("a", 4.0, None, None)], at)  # the clock did not move
    assert em.flush() == 4
    [(ka, a_items), (kb, b_items)] = sink.sent
    assert (ka, kb) == ("a", "b")
    assert [i["ts"] for i in a_items] == ["2025-01-01T00:00:00Z", "2025-01-01T00:00:00.000001Z",
                                          "2025-01-01T00:00:00.000002Z"]
    assert b_items[0]["ts"] == "2025-01-01T00:00:00Z"
    [job] = sink.jobs  # the port's freshness, once per interval
    assert job["job"] == "ingest.serial.p" and job["rows"] == 4 and job["status"] == "ok"


def test_config_files_validate_with_clear_errors(tmp_path: Path) -> None:
    cfg = load_serial_config(SAMPLES / "serial.yaml")
    assert {p.protocol for p in cfg.ports} == {"value", "kv", "modbus"}
    toml = load_serial_config(SAMPLES / "serial.toml")
    assert toml.ports[0].parity == "E" and toml.ports[0].stopbits == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("ports:\n  - name: a\n    device: /dev/ttyUSB0\n    protocol: value\n    parity: X\n")
    with pytest.raises(SerialConfigError) as e:
        load_serial_config(bad)
    assert "bad.yaml" in str(e.value) and "parity" in str(e.value)
    bad.write_text("ports:\n  - name: a\n    device: /dev/ttyUSB0\n    protocol: value\n")
    with pytest.raises(SerialConfigError, match="needs `series`"):
        load_serial_config(bad)
    bad.write_text("ports: [unclosed")
    with pytest.raises(SerialConfigError, match="not valid YAML"):
        load_serial_config(bad)
