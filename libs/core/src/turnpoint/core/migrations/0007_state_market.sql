-- The symbol's market on its rebound states, version 7 of the shared schema (docs/api.md, issue #6).
--
-- The legacy main view filters by market, direction and a pct_from_pivot range. The market lives on
-- `symbol`, so the symbols list walked the (gtype, direction, pct_from_pivot, symbol) range and probed
-- `symbol` by primary key for each state to test its market: a filter that matches few or no symbols of
-- that market read the whole range (838 states and 2,514 buffers for one empty page of the benchmark,
-- 1.5 ms). With the market on the state row the whole filter is one index range.
--
-- `rebound_state.market` is kept by the database, so every writer (the loader, tests, seeds) gets it:
--   - a state inserted takes its symbol's market (NULL while the symbol has no `symbol` row);
--   - a state updated while its market is NULL looks it up again: if a symbol row and the symbol's
--     first state were written by concurrent transactions, neither saw the other, and the next upsert of
--     the state (the next bar) repairs it;
--   - a symbol inserted, deleted or given another market passes it on to its states.
-- Cost: one primary-key lookup of `symbol` per state inserted (the loader's INSERT ... ON CONFLICT fires
-- the insert trigger for every proposed row) and one more index entry per state written.
ALTER TABLE rebound_state ADD COLUMN market text;

UPDATE rebound_state st SET market = s.market FROM symbol s WHERE s.symbol = st.symbol;

CREATE FUNCTION rebound_state_take_market() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.market IS NULL THEN
        NEW.market := (SELECT s.market FROM symbol s WHERE s.symbol = NEW.symbol);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER rebound_state_take_market BEFORE INSERT OR UPDATE ON rebound_state
    FOR EACH ROW EXECUTE FUNCTION rebound_state_take_market();

CREATE FUNCTION symbol_pass_market_on() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE rebound_state SET market = NULL WHERE symbol = OLD.symbol AND market IS NOT NULL;
        RETURN OLD;
    END IF;
    UPDATE rebound_state SET market = NEW.market
    WHERE symbol = NEW.symbol AND market IS DISTINCT FROM NEW.market;
    RETURN NEW;
END
$$;

CREATE TRIGGER symbol_pass_market_on AFTER INSERT OR DELETE OR UPDATE OF market ON symbol
    FOR EACH ROW EXECUTE FUNCTION symbol_pass_market_on();

CREATE INDEX rebound_state_market_direction_pct_idx
    ON rebound_state (gtype, market, direction, pct_from_pivot, symbol);
