"""Each result contract's fields are exactly its loader table's columns: a field added to a contract without
a column (or a column without a field) fails here, not as a silently dropped value in production."""

from __future__ import annotations

import pytest
from turnpoint.loader.tables import TABLES

# Fields a contract carries on purpose that its table does not store, and why.
NOT_STORED: dict[str, set[str]] = {
    "rebound_leg": {"deleted"},  # a withdrawal marker: the loader deletes the row by key instead
    "reading": {"source"},  # provenance label of the edge that read it, kept in the logs, not the table
}


@pytest.mark.parametrize("table", TABLES, ids=[t.name for t in TABLES])
def test_contract_fields_equal_table_columns(table) -> None:  # type: ignore[no-untyped-def]
    fields = set(table.topic.item.model_fields) - NOT_STORED.get(table.name, set())
    assert fields == set(table.column_names), (
        f"{table.topic.item.__name__} fields vs table {table.name}: only in the contract "
        f"{sorted(fields - set(table.column_names))}, only in the table {sorted(set(table.column_names) - fields)}")


def test_every_derived_table_keeps_a_subset_of_its_source_columns() -> None:
    for table in TABLES:
        for derived, _rows in table.derived:
            assert set(derived.column_names) <= set(table.column_names), derived.name
