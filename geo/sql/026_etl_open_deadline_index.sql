-- ETL load speed: event_open_deadline (001: deadline_at WHERE status <> 'closed') has the key and
-- the predicate of event_open_deadline_cover (033: the same, INCLUDE reported_at, grid_code,
-- source), which answers every lookup it answered (`cityscreen escalate`'s overdue scan, open
-- cases by deadline). Every case insert or status change maintained both, and a bulk load
-- rebuilt both (2.2 of 42 s of index builds for 2M cases on a loaded machine).
DROP INDEX IF EXISTS event_open_deadline;
