-- ETL load speed: what every inserted event / timeline row paid for and nothing used.
--
-- * batch_id foreign keys on event and event_transition: a per-row RI check (a lookup and a
--   row lock on etl_batch) for each of the millions of rows a bulk load inserts, while no code
--   deletes batches (the ON DELETE SET NULL never fired). The columns stay: batch_id still
--   says which batch last wrote the row.
-- * event_transition_event (event_id, at): a prefix of the UNIQUE (event_id, at, kind) index,
--   which answers the same lookups (a case's timeline in time order).
ALTER TABLE event DROP CONSTRAINT IF EXISTS event_batch_id_fkey;
ALTER TABLE event_transition DROP CONSTRAINT IF EXISTS event_transition_batch_id_fkey;
DROP INDEX IF EXISTS event_transition_event;
