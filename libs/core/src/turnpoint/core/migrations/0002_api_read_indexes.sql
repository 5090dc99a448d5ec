-- Indexes of the read API (docs/api.md), version 2 of the shared schema.
--
-- The symbols list sorted by a rebound-state column is an ordered scan of one of these indexes from the
-- page's cursor, stopped by the LIMIT: (gtype, <column>, symbol) serves both directions (order=desc
-- reverses the whole key) and the keyset condition (<column>, symbol) > (value, symbol).
-- The legacy main view filters by direction and a pct_from_pivot range and sorts by pct_from_pivot:
-- (gtype, direction, pct_from_pivot, symbol) turns that filter into an index range.
--
-- Cost on the write side: rebound_state upserts change these columns, so they are no longer HOT updates;
-- each upsert now also writes 7 index entries. rebound_state holds 4 rows per symbol (one per gtype) and
-- changes once per bar, so this is small next to the price table.
CREATE INDEX rebound_state_pct_from_pivot_idx ON rebound_state (gtype, pct_from_pivot, symbol);
CREATE INDEX rebound_state_pct_from_extreme_idx ON rebound_state (gtype, pct_from_extreme, symbol);
CREATE INDEX rebound_state_bars_since_pivot_idx ON rebound_state (gtype, bars_since_pivot, symbol);
CREATE INDEX rebound_state_pivot_value_idx ON rebound_state (gtype, pivot_value, symbol);
CREATE INDEX rebound_state_extreme_value_idx ON rebound_state (gtype, extreme_value, symbol);
CREATE INDEX rebound_state_last_value_idx ON rebound_state (gtype, last_value, symbol);
CREATE INDEX rebound_state_direction_pct_idx ON rebound_state (gtype, direction, pct_from_pivot, symbol);
