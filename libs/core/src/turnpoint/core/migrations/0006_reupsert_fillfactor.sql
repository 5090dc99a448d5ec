-- Room for full re-upserts to be HOT updates, version 6 of the shared schema (docs/loader.md, issue #5).
--
-- A re-upsert changes only value columns and updated_at, none of them indexed, so the new row version can
-- stay on its page (a HOT update: no index entries, far less WAL) when the page has room for it. With
-- fillfactor 90 a freshly loaded page has room for about one row in ten: a backfill that re-sends every row
-- made 90% of the updates non-HOT (a new heap page, a new primary-key entry, and for rebound_leg a new
-- end_date entry), 481 bytes of WAL per row. With 50 every row of a page has room for its next version;
-- the dead version is pruned on the next visit, so the following re-upsert is HOT again. Measured on the
-- embedded PostgreSQL 16, 1M price rows re-upserted in key-ordered 50k batches: 76k -> 169k rows/s, WAL
-- 481 -> 286 bytes/row, HOT updates 10% -> 100%.
--
-- Cost: a table loaded once and never updated takes twice the pages of a packed one. A fillfactor 90 table
-- reaches the same size after its first full re-upsert anyway (27,894 pages vs 27,044 at fillfactor 50 for
-- 1M price rows).
--
-- Only pages written from now on get the new free space; existing rows stay where they are (no rewrite and
-- no long lock at migration time). `VACUUM FULL price` or `CLUSTER` applies it to existing pages if wanted.
ALTER TABLE price SET (fillfactor = 50);
ALTER TABLE rebound_leg SET (fillfactor = 50);
