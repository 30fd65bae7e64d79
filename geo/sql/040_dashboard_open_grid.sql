-- Dashboard: open cases of one unit (the 在办/超期 tiles, overdue per child) by grid-code
-- prefix, index-only. event_open_reported answers "open cases of a window"; this one answers
-- "open cases of an area, any age" without reading every open case of the city.
CREATE INDEX IF NOT EXISTS event_open_grid ON event (grid_code text_pattern_ops)
    INCLUDE (deadline_at, reported_at, source, major) WHERE status <> 'closed';
