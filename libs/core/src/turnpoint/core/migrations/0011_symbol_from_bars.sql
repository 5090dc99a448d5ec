-- Every symbol with bars is listed, version 11 of the shared schema (issue #18, docs/api.md).
--
-- The read API's symbols list is driven by `symbol` (its keyset pages walk that table's primary key and the
-- indexes of migrations 0002/0007), so a symbol whose bars were ingested before (or without) its metadata
-- was missing from `/v1/symbols` until `ingest symbols` ran. The first daily bar of a symbol now gives it a
-- `symbol` row with the table's defaults (name and market '', status 'listed'); `ingest symbols` later
-- upserts the metadata over it (the loader's INSERT ... ON CONFLICT DO UPDATE). The API reports the
-- defaults as null ("no metadata yet").
--
-- An AFTER INSERT trigger on latest_bar fires once per symbol (later bars update the row, which fires no
-- insert trigger), so the cost is one primary-key probe of `symbol` per new symbol.
CREATE FUNCTION latest_bar_list_symbol() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO symbol (symbol) VALUES (NEW.symbol) ON CONFLICT (symbol) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER latest_bar_list_symbol AFTER INSERT ON latest_bar
    FOR EACH ROW EXECUTE FUNCTION latest_bar_list_symbol();

INSERT INTO symbol (symbol) SELECT symbol FROM latest_bar ON CONFLICT (symbol) DO NOTHING;
