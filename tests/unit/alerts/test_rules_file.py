"""The rules file: validation with the line of each error, glob matching, reload on change."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from turnpoint.core.alerts.rules import RuleBook, RulesError, load_rules, parse_rules

pytestmark = pytest.mark.unit

GOOD = textwrap.dedent("""\
    rules:
      - name: plant-outliers
        kind: outlier
        match: "plant*/people"
        webhook: http://127.0.0.1:9999/hook
        direction: high
      - name: ports
        kind: stale
        match: "ingest.serial.*"
        webhook: https://hooks.slack.com/services/T/B/X
        format: slack
        max_age_s: 300
""")


def test_a_good_file_gives_its_rules() -> None:
    rules = parse_rules(GOOD)
    assert [r.name for r in rules.rules] == ["plant-outliers", "ports"]
    assert rules.by_name("ports") is not None and rules.by_name("ports").max_age_s == 300  # type: ignore[union-attr]
    assert rules.of_kind("outlier")[0].direction == "high"


@pytest.mark.parametrize(("text", "line", "words"), [
    (GOOD.replace("kind: outlier", "kind: outlyer"), 3, "kind"),
    (GOOD.replace("    max_age_s: 300\n", ""), 7, "max_age_s"),
    (GOOD.replace("direction: high", "direction: high\n    colour: red"), 7, "colour"),
    (GOOD.replace("webhook: http://127.0.0.1:9999/hook", "webhook: ftp://x"), 5, "webhook"),
    (GOOD.replace("name: ports", "name: plant-outliers"), 1, "twice"),
    (GOOD.replace('match: "plant*/people"', 'match: [unclosed'), 5, "YAML"),
    ("- just\n- a list\n", 1, "mapping"),
])
def test_every_error_names_its_line(text: str, line: int, words: str) -> None:
    with pytest.raises(RulesError) as err:
        parse_rules(text, "rules.yaml")
    assert err.value.line == line, str(err.value)
    assert words in str(err.value)
    assert str(err.value).startswith(f"rules.yaml:{line}: ")


def test_glob_crosses_slashes_and_is_case_sensitive() -> None:
    rule = parse_rules(GOOD).rules[0]
    assert rule.matches("plant0/people")
    assert rule.matches("plant12/north/people")  # `*` also crosses `/`
    assert not rule.matches("plant0/vehicle")
    assert not rule.matches("Plant0/people")
    exact = parse_rules(GOOD.replace('"plant*/people"', '"plant[0-3]/people"')).rules[0]
    assert exact.matches("plant3/people") and not exact.matches("plant4/people")


def test_rulebook_reloads_a_changed_file_and_keeps_the_last_good_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD)
    book = RuleBook(path)
    assert len(book.current().rules) == 2
    path.write_text(GOOD.split("  - name: ports")[0])
    os.utime(path, ns=(1, 1))
    assert [r.name for r in book.current().rules] == ["plant-outliers"]
    path.write_text("rules: [\n")
    os.utime(path, ns=(2, 2))
    assert [r.name for r in book.current().rules] == ["plant-outliers"]
    assert book.error is not None and "rules.yaml" in book.error


def test_load_rules_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"nothing\.yaml"):
        load_rules(tmp_path / "nothing.yaml")
