-- Dashboard: city/district counts by hour from event_hourly as index-only scans. At realistic
-- densities the roll-up is sparse (about one row per case-hour-category), so a district's month
-- otherwise touches tens of thousands of scattered heap pages; the hour range is read from this
-- index alone and the grid-code prefix filtered in it. (Small units keep using
-- event_hourly_grid_prefix: their prefix range is short.)
CREATE INDEX IF NOT EXISTS event_hourly_hour_cover ON event_hourly (hour)
    INCLUDE (grid_code, channel, category, n_reported, n_closed, n_closed_on_time);
