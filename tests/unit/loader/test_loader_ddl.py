"""`turnpoint loader ddl`: the CREATE TABLE statements and the MERGE statements, parsed together by sqlglot.

For every table a MERGE (or DELETE, or the job record) writes, the DDL has the table, every column the
statement inserts or updates, a primary key equal to the ON clause's columns, and each column's type is the
type the statement binds, or one of the documented Oracle substitutions of turnpoint.loader.ddl.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlglot
from sqlglot import exp
from typer.testing import CliRunner
from turnpoint.loader import ddl, merge
from turnpoint.loader.cli import app
from turnpoint.loader.tables import PRICE, TABLES, TableSpec

# (bound type, DDL type) pairs allowed besides equality, with the reason in turnpoint.loader.ddl
ORACLE_SUBSTITUTIONS = {
    # ORA-02329 and the session time zone (sqlglot writes TIMESTAMP WITH LOCAL TIME ZONE as TIMESTAMPLTZ)
    ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPLTZ"),
    ("VARCHAR2(4000)", "VARCHAR2(255 CHAR)"),  # key columns only: ORA-01450
}


@dataclass
class Table:
    columns: dict[str, str]
    not_null: set[str]
    pk: list[str]


def parse_ddl(statements: list[str], dialect: str) -> dict[str, Table]:
    out: dict[str, Table] = {}
    for text in statements:
        tree = sqlglot.parse_one(text, read=dialect)
        assert isinstance(tree, exp.Create) and tree.kind == "TABLE", text
        schema = tree.this
        columns, not_null, pk = {}, set(), []
        for item in schema.expressions:
            if isinstance(item, exp.ColumnDef):
                columns[item.name] = item.args["kind"].sql(dialect=dialect)
                if any(isinstance(c.kind, exp.NotNullColumnConstraint) for c in item.constraints):
                    not_null.add(item.name)
            else:
                (key,) = item.find_all(exp.PrimaryKey)
                pk = [e.name for e in key.expressions]
        out[schema.this.name] = Table(columns, not_null, pk)
    return out


def _bound_type(node: exp.Expression, dialect: str) -> str:
    node = node.unnest()
    if isinstance(node, exp.Cast):
        return node.to.sql(dialect=dialect)
    if isinstance(node, exp.Anonymous) and node.name.upper() == "FROM_TZ":
        return "TIMESTAMP WITH TIME ZONE"
    if isinstance(node, exp.AtTimeZone):
        return "TIMESTAMPTZ"
    raise AssertionError(f"unexpected bound expression {node.sql()}")


@dataclass
class Written:
    table: str
    bound: dict[str, str]  # column -> the type the statement binds
    on: list[str]
    inserted: list[str]
    updated: list[str]


def parse_merge(text: str, dialect: str) -> Written:
    tree = sqlglot.parse_one(text, read=dialect)
    assert isinstance(tree, exp.Merge)
    select = tree.args["using"].this
    bound = {a.alias: _bound_type(a.this, dialect) for a in select.expressions}
    on = [eq.left.name for eq in tree.args["on"].find_all(exp.EQ, bfs=False)]
    inserted, updated = [], []
    for when in tree.args["whens"].expressions:
        action = when.args["then"]
        if isinstance(action, exp.Insert):
            inserted = [c.name for c in action.this.expressions]
        else:
            updated = [eq.left.name for eq in action.expressions]
    return Written(tree.this.name, bound, on, inserted, updated)


ORACLE_DDL = parse_ddl(ddl.ddl("oracle"), "oracle")
POSTGRES_DDL = parse_ddl(ddl.ddl("postgres"), "postgres")
WRITTEN = ddl.written_tables()


def test_every_written_table_has_ddl_and_nothing_else() -> None:
    assert set(ORACLE_DDL) == {t.name.upper() for t in WRITTEN}
    assert "LATEST_BAR" in ORACLE_DDL and "JOB_INFO" in ORACLE_DDL  # derived table and job records
    assert set(POSTGRES_DDL) == {t.name for t in WRITTEN}


@pytest.mark.parametrize("spec", WRITTEN, ids=lambda s: s.name)
def test_oracle_merge_fits_the_oracle_table(spec: TableSpec) -> None:
    w = parse_merge(merge.merge_upsert(spec, merge.ORACLE), "oracle")
    table = ORACLE_DDL[w.table]
    assert w.on == table.pk  # the ON clause is the primary key, in order
    assert set(w.inserted) == set(table.columns)  # every column written, no column left to a default
    assert set(w.updated) <= set(table.columns) and not set(w.updated) & set(table.pk)
    assert table.not_null == set(table.pk) | {"UPDATED_AT"}  # '' is NULL in Oracle: values stay nullable
    for column, bound in w.bound.items():
        declared = table.columns[column]
        if declared != bound:
            assert (bound, declared) in ORACLE_SUBSTITUTIONS, f"{w.table}.{column}: binds {bound}, DDL {declared}"
            if declared.startswith("VARCHAR2(255"):
                assert column in table.pk, f"{w.table}.{column}: narrowed but not a key column"


@pytest.mark.parametrize("spec", WRITTEN, ids=lambda s: s.name)
def test_postgres_merge_binds_exactly_the_declared_types(spec: TableSpec) -> None:
    w = parse_merge(merge.merge_upsert(spec, merge.POSTGRES), "postgres")
    table = POSTGRES_DDL[w.table]
    assert w.on == table.pk and set(w.inserted) == set(table.columns)
    for column, bound in w.bound.items():
        assert table.columns[column] == bound, f"{w.table}.{column}"


@pytest.mark.parametrize("spec", [t for t in TABLES if t.is_delete is not None], ids=lambda s: s.name)
def test_deletes_address_the_primary_key(spec: TableSpec) -> None:
    tree = sqlglot.parse_one(merge.delete_by_key(spec, merge.ORACLE), read="oracle")
    table = ORACLE_DDL[tree.this.name]
    assert [eq.left.name for eq in tree.args["where"].find_all(exp.EQ, bfs=False)] == table.pk


def test_job_records_fit_job_info() -> None:
    w = parse_merge(merge.record_jobs(merge.ORACLE), "oracle")
    table = ORACLE_DDL[w.table]
    assert w.on == table.pk == ["JOB"]
    assert set(w.inserted) <= set(table.columns) and set(w.updated) <= set(table.columns)
    assert all(table.columns[c] == b for c, b in w.bound.items() if c not in table.pk)


def test_the_check_catches_a_drifted_table() -> None:
    """A DDL whose key or columns differ from the MERGE's fails the checks above."""
    broken = parse_ddl([ddl.create_table(PRICE, merge.ORACLE).replace(', "START")', ")")
                        .replace('"BARS" NUMBER(10),', "")], "oracle")["PRICE"]
    w = parse_merge(merge.merge_upsert(PRICE, merge.ORACLE), "oracle")
    assert w.on != broken.pk and set(w.inserted) != set(broken.columns)


def test_the_cli_prints_the_script() -> None:
    result = CliRunner().invoke(app, ["ddl", "--dialect", "oracle"])
    assert result.exit_code == 0
    statements = [s for s in sqlglot.parse(result.output, read="oracle") if s is not None]
    assert len(statements) == len(WRITTEN)
    bad = CliRunner().invoke(app, ["ddl", "--dialect", "db2"])
    assert bad.exit_code == 2 and "unknown dialect" in bad.output
