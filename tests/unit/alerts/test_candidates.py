"""The evaluator validates only the legs and states a rule could fire for (`could_alert_leg`,
`could_alert_drop`): over any rules and any valid items, the alerts are those of validating everything, and
an invalid item a rule could fire for still rejects its message."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from turnpoint.alerts.evaluator import Evaluator, Topics
from turnpoint.core.alerts.evaluate import could_alert_drop, could_alert_leg, drop_alerts, leg_alerts
from turnpoint.core.alerts.rules import Rule
from turnpoint.core.contracts import Leg, ReboundState
from turnpoint.core.errors import InvalidRecord
from turnpoint.core.serde import decode_items

pytestmark = pytest.mark.unit
HOOK = "http://127.0.0.1:9/hook"
GTYPES = ["open", "high", "low", "close"]
SYMBOLS = ["AAPL", "005930.KS", "MSFT", "A1"]
TOPICS = Topics.with_prefix("turnpoint.")

rules_st = st.lists(
    st.builds(
        lambda i, kind, match, gtype, min_pct: Rule.model_validate(
            {"name": f"r{i}", "kind": kind, "webhook": HOOK, "match": match, "gtype": gtype, "min_pct": min_pct}),
        st.integers(0, 10**6), st.sampled_from(["leg", "drop_from_rise", "outlier"]),
        st.sampled_from(["*", "A*", "005930.KS", "M?SFT", "[AM]*"]), st.sampled_from([*GTYPES, "any"]),
        st.one_of(st.floats(0, 40, allow_nan=False), st.sampled_from([10.0, 20.0]))),  # and on the line
    max_size=5, unique_by=lambda r: r.name)
pct_st = st.one_of(st.floats(-60, 60, allow_nan=False), st.integers(-60, 60), st.sampled_from([0.0, 10.0, -10.0, 20.0]))


def leg_item(symbol: str, gtype: str, pct: float, deleted: bool) -> dict[str, Any]:
    return {"symbol": symbol, "gtype": gtype, "start_date": "2025-01-02", "start_value": 100.0,
            "end_date": "2025-01-09", "end_value": 100.0 + pct, "bars": 5, "change": pct, "pct": pct,
            "direction": "up" if pct > 0 else "down", "deleted": deleted}


def state_item(symbol: str, gtype: str, pct: float, direction: str) -> dict[str, Any]:
    return {"symbol": symbol, "gtype": gtype, "threshold": 0.05, "direction": direction,
            "pivot_date": "2025-01-10", "pivot_value": 100.0, "extreme_date": "2025-01-20",
            "extreme_value": 100.0 + pct, "last_date": "2025-01-20", "last_value": 100.0 + pct,
            "bars_since_pivot": 5, "pct_from_pivot": pct, "pct_from_extreme": 0.0}


class Msg:
    def __init__(self, topic: str, items: list[Any]) -> None:
        self._topic, self._value = topic, orjson.dumps({"v": 1, "items": items})

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes:
        return self._value

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return 0


def evaluator() -> Evaluator:
    return Evaluator(consumer=None, producer=None, book=None, topics=TOPICS)  # type: ignore[arg-type]


def same_alerts(rules: list[Rule], topic: str, items: list[dict[str, Any]], model: Any, alerts: Any,
                could: Any) -> None:
    """The evaluator's alerts are those of validating every item, and `could` holds wherever an item alerts."""
    msg = Msg(topic, items)
    validated = decode_items(model, msg.value())
    assert evaluator().evaluate_with(rules, msg) == [a for x in validated for a in alerts(rules, x)]
    for item, x in zip(items, validated, strict=True):  # the filter is a necessary condition item by item
        if alerts(rules, x):
            assert could(rules, item)


@settings(max_examples=200, deadline=None)
@given(rules_st, st.lists(st.tuples(st.sampled_from(SYMBOLS), st.sampled_from(GTYPES), pct_st, st.booleans()),
                          max_size=30))
def test_legs_give_the_alerts_of_validating_every_item(rules: list[Rule], specs: list[Any]) -> None:
    same_alerts(rules, TOPICS.legs, [leg_item(*s) for s in specs], Leg, leg_alerts, could_alert_leg)


@settings(max_examples=200, deadline=None)
@given(rules_st, st.lists(st.tuples(st.sampled_from(SYMBOLS), st.sampled_from(GTYPES), pct_st,
                                    st.sampled_from(["down", "up", "none"])), max_size=30))
def test_states_give_the_alerts_of_validating_every_item(rules: list[Rule], specs: list[Any]) -> None:
    same_alerts(rules, TOPICS.states, [state_item(*s) for s in specs], ReboundState, drop_alerts, could_alert_drop)


def test_an_invalid_item_a_rule_could_fire_for_rejects_the_message() -> None:
    rules = [Rule.model_validate({"name": "big", "kind": "leg", "webhook": HOOK, "min_pct": 20})]
    good = leg_item("AAPL", "close", 25.0, False)
    # ("pct": "25" is no such case: a field the filter cannot compare makes a candidate, and the contract's
    # lax mode reads it as 25.0, as it did when every item was validated)
    for bad in ({**good, "end_date": "not a date"}, {**good, "pct": "x"}, {**good, "symbol": ["AAPL"]},
                {k: v for k, v in good.items() if k != "gtype"}, "a string"):
        with pytest.raises(InvalidRecord):
            evaluator().evaluate_with(rules, Msg(TOPICS.legs, [good, bad]))
    # a small leg no rule looks at is not validated: it changes no alert (the loader dead-letters it)
    small_bad = {**leg_item("AAPL", "close", 1.0, False), "end_date": "not a date"}
    [alert] = evaluator().evaluate_with(rules, Msg(TOPICS.legs, [good, small_bad]))
    assert alert.at == dt.datetime(2025, 1, 9, tzinfo=dt.UTC)
