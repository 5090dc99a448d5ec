-- The latest daily bar of every symbol, version 3 of the shared schema (docs/api.md, docs/loader.md).
--
-- One row per symbol: its `price` row of interval 'day' with the greatest start. The loader writes it in the
-- same transaction as the daily price rows (per flush, each symbol's newest bar of the flush, with
-- `ON CONFLICT (symbol) DO UPDATE ... WHERE latest_bar.start <= EXCLUDED.start`: a re-sent or corrected bar of
-- the latest day replaces it, an older one never does). The read API's symbols list reads it by primary key
-- instead of looking up price per row, and sorts by its columns through the (column, symbol) indexes.
--
-- Deletions: the loader never deletes price rows, so latest_bar is never left pointing at a deleted bar.
CREATE TABLE latest_bar (
    symbol     text PRIMARY KEY,
    start      date NOT NULL,
    open       double precision NOT NULL,
    high       double precision NOT NULL,
    low        double precision NOT NULL,
    close      double precision NOT NULL,
    volume     double precision NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX latest_bar_close_idx ON latest_bar (close, symbol);
CREATE INDEX latest_bar_open_idx ON latest_bar (open, symbol);
CREATE INDEX latest_bar_high_idx ON latest_bar (high, symbol);
CREATE INDEX latest_bar_low_idx ON latest_bar (low, symbol);
CREATE INDEX latest_bar_volume_idx ON latest_bar (volume, symbol);

-- Backfill from the daily bars already loaded: price's primary key (symbol, interval, start) read backwards.
INSERT INTO latest_bar (symbol, start, open, high, low, close, volume)
SELECT DISTINCT ON (symbol) symbol, start, open, high, low, close, volume
FROM price
WHERE interval = 'day'
ORDER BY symbol, start DESC;
