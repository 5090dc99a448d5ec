"""Token lifetimes: the `--expires-in` / `--expires-at` / `--grace` values and the expiry rule."""

from __future__ import annotations

import datetime as dt

import pytest
from turnpoint.ingest.errors import TokenError
from turnpoint.ingest.tokens import TokenInfo, expiry, parse_duration, parse_instant

NOW = dt.datetime(2026, 12, 1, 6, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(("text", "delta"), [
    ("90d", dt.timedelta(days=90)), ("12h", dt.timedelta(hours=12)), ("30m", dt.timedelta(minutes=30)),
    ("2w", dt.timedelta(weeks=2)), ("45s", dt.timedelta(seconds=45)), (" 7d ", dt.timedelta(days=7)),
])
def test_durations(text: str, delta: dt.timedelta) -> None:
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["90", "d", "0d", "-1d", "1y", "1.5d", ""])
def test_bad_durations_are_refused_with_the_forms_that_work(text: str) -> None:
    with pytest.raises(TokenError, match="90d, 12h"):
        parse_duration(text)


def test_instants_need_an_offset_or_are_dates_at_midnight_utc() -> None:
    assert parse_instant("2027-03-01") == dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    assert parse_instant("2027-03-01T15:30+09:00") == dt.datetime(2027, 3, 1, 6, 30, tzinfo=dt.UTC)
    assert parse_instant("2027-03-01T06:30Z") == dt.datetime(2027, 3, 1, 6, 30, tzinfo=dt.UTC)
    with pytest.raises(TokenError, match="no offset"):
        parse_instant("2027-03-01T15:30")
    with pytest.raises(TokenError, match="invalid time"):
        parse_instant("next tuesday")


def test_expiry_takes_one_option_in_the_future() -> None:
    assert expiry(None, None, NOW) is None
    assert expiry("90d", None, NOW) == NOW + dt.timedelta(days=90)
    assert expiry(None, "2027-01-01", NOW) == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(TokenError, match="not both"):
        expiry("1d", "2027-01-01", NOW)
    with pytest.raises(TokenError, match="not in the future"):
        expiry(None, "2026-11-30", NOW)


def test_a_secret_is_expired_from_its_valid_until_on() -> None:
    info = TokenInfo(1, "cctv", ("write:counts",), valid_until=NOW)
    assert info.expired(NOW) and info.expired(NOW + dt.timedelta(seconds=1))
    assert not info.expired(NOW - dt.timedelta(microseconds=1))
    assert not TokenInfo(1, "cctv", ()).expired(NOW)  # no expiry
    assert "expired at 2026-12-01T06:30:00+00:00" in info.expired_detail()
    rotated = TokenInfo(1, "cctv", (), valid_until=NOW, previous=True)
    assert "rotated" in rotated.expired_detail() and "new secret" in rotated.expired_detail()
