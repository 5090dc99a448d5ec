"""The alert store's answers that need no database."""

from __future__ import annotations

from turnpoint.core.alerts.rules import RulesFile
from turnpoint.alerts.store import AlertStore, Inserted


def test_inserting_no_alerts_answers_an_empty_insert_without_connecting() -> None:
    store = AlertStore("postgresql://nobody@127.0.0.1:1/none")  # never reached: nothing to insert
    result = store.insert([], RulesFile(rules=[]), 30.0)
    assert result == Inserted([], [])
    assert (result.deliver, result.new) == ([], [])
