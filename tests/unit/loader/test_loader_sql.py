"""Every generated statement parses: Oracle MERGE/DELETE with sqlglot's Oracle dialect, PostgreSQL ones too."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from turnpoint.loader import merge, sql
from turnpoint.loader.tables import TABLES

ORACLE = merge.statements(merge.ORACLE, TABLES)
POSTGRES_MERGE = merge.statements(merge.POSTGRES, TABLES)


@pytest.mark.parametrize("name", sorted(ORACLE))
def test_oracle_statements_parse_as_oracle(name: str) -> None:
    tree = sqlglot.parse_one(ORACLE[name], read="oracle")
    kinds = {"upsert": exp.Merge, "record": exp.Merge, "delete": exp.Delete, "newest": exp.Select}
    assert isinstance(tree, kinds[name.split()[0]])
    assert "?" in ORACLE[name]
    # a round trip through sqlglot's Oracle generator parses again (nothing it could not represent)
    sqlglot.parse_one(tree.sql(dialect="oracle"), read="oracle")


def test_oracle_merge_has_the_shape_tibero_expects() -> None:
    text = ORACLE["upsert price"]
    tree = sqlglot.parse_one(text, read="oracle")
    assert "FROM dual" in text and '"START"' in text and '"END"' in text
    whens = list(tree.find_all(exp.When))
    assert len(whens) == 2
    # key columns are never updated (Oracle forbids updating columns of the ON clause)
    update = next(w for w in whens if w.args.get("matched"))
    set_cols = {e.this.name.upper() for e in update.find_all(exp.EQ) if isinstance(e.this, exp.Column)}
    assert set_cols.isdisjoint({"SYMBOL", "INTERVAL", "START"})
    assert "UPDATED_AT" in set_cols


def test_sqlglot_does_catch_a_broken_oracle_merge() -> None:
    broken = ORACLE["upsert price"].replace("WHEN NOT MATCHED THEN INSERT (", "WHEN NOT MATCHED THEN INSERT ((")
    with pytest.raises(ParseError):
        sqlglot.parse_one(broken, read="oracle")


@pytest.mark.parametrize("name", sorted(POSTGRES_MERGE))
def test_postgres_merge_statements_parse(name: str) -> None:
    sqlglot.parse_one(POSTGRES_MERGE[name], read="postgres")


@pytest.mark.parametrize("spec", TABLES, ids=lambda s: s.name)
def test_postgres_bulk_statements_parse(spec: object) -> None:
    for text in (sql.create_stage(spec), sql.upsert_from_stage(spec)):  # type: ignore[arg-type]
        sqlglot.parse_one(text, read="postgres")
    upsert = sql.upsert_from_stage(spec)  # type: ignore[arg-type]
    assert "ON CONFLICT" in upsert and "IS DISTINCT FROM" in upsert
    if spec.is_delete is not None:  # type: ignore[attr-defined]
        sqlglot.parse_one(sql.delete_keys(spec), read="postgres")  # type: ignore[arg-type]
    if spec.horizon is not None:  # type: ignore[attr-defined]
        tree = sqlglot.parse_one(sql.newest_by_series(spec), read="postgres")  # type: ignore[arg-type]
        # one max per series (its key's index read from the end), not a GROUP BY over the series' rows
        assert isinstance(tree, exp.Select) and tree.args.get("group") is None
        assert isinstance(tree.selects[1], exp.Subquery)
    sqlglot.parse_one(sql.RECORD_JOBS, read="postgres")


def test_latest_bar_upsert_never_replaces_a_newer_bar() -> None:
    from turnpoint.loader.tables import LATEST_BAR, PRICE

    text = sql.upsert_from_stage(LATEST_BAR)
    sqlglot.parse_one(text, read="postgres")
    assert 'WHERE t."start" <= EXCLUDED."start" AND (' in text and "IS DISTINCT FROM" in text
    assert "<=" not in sql.upsert_from_stage(PRICE)
    oracle = merge.merge_upsert(LATEST_BAR, merge.ORACLE)
    tree = sqlglot.parse_one(oracle, read="oracle")
    update = next(w for w in tree.find_all(exp.When) if w.args.get("matched"))
    assert update.find(exp.LTE) is not None  # the guard belongs to the UPDATE branch
    assert 'UPDATED_AT" = CURRENT_TIMESTAMP WHERE t."START" <= s."START" WHEN NOT MATCHED' in oracle
    pg_merge = merge.merge_upsert(LATEST_BAR, merge.POSTGRES)
    sqlglot.parse_one(pg_merge, read="postgres")
    assert 'WHEN MATCHED AND t."start" <= s."start" THEN UPDATE' in pg_merge
