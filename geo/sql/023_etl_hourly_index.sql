-- event_hourly_hour (hour) is answered by event_hourly_hour_cover (hour) INCLUDE (…) (041):
-- same key, so every lookup by hour can use the covering one; keeping both made every roll-up
-- row (about one per case at realistic densities) maintain one more btree.
DROP INDEX IF EXISTS event_hourly_hour;
