-- ETL load speed: event_transition.event_id loses its foreign key to event(id).
--
-- Every timeline row paid a referential check: an index probe on event's primary key and a
-- FOR KEY SHARE lock on the case row, which writes the lock into the case's heap tuple (one
-- more WAL record per timeline row, and a bulk load writes about 1.2 timeline rows per case).
-- Timeline rows are only ever written by the loader, for a case id it has just inserted or
-- read back in the same transaction, and no code path deletes cases (the ON DELETE CASCADE
-- only ever fired in tests and in bench_load's clean-up, which deletes the timeline first).
-- Whoever deletes cases now deletes their timeline rows too.
ALTER TABLE event_transition DROP CONSTRAINT IF EXISTS event_transition_event_id_fkey;
