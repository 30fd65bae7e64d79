"""ETL: load city feeds into PostGIS — validated, idempotent, one transaction per batch.

Feeds (one module each: parse → validate → transform): ``etl.incidents`` (grid_worker),
``etl.hotline`` (hotline_12345, JSON Lines or Open311), ``etl.cameras`` (cameras and
heartbeats), ``etl.updates`` (status updates, any channel), ``etl.alerts`` (video_ai).
Shared steps, each once: ``etl.reader`` (streaming CSV / JSON Lines / JSON), ``etl.validate``
(fields, times, categories, crs, location in the city), ``etl.load`` (COPY staging +
set-based upsert + transitions), ``etl.rollup`` (event_hourly refresh), ``etl.batch``
(etl_batch / etl_reject / data_version).

Python API (what the HTTP endpoint, the watch directory and the demo feed call)::

    from cityscreen import db
    from etl.pipeline import load_file, load_records, LoadError

    with db.transaction() as conn:            # the caller's transaction = the batch
        s = load_file(conn, "incidents", "x.csv", crs="wgs84", strict=False,
                      encoding="utf-8", fmt=None, progress=False)
        s = load_records(conn, "hotline", [dict_or_json_line, ...], source_name="api")
    s.as_json()  # {"batch_id","feed","rows_in","loaded","updated","unchanged","rejected","seconds"}

- ``feed``: incidents | hotline | cameras | updates | alerts; ``fmt``: csv | jsonl | json
  (default from the file name) or ``open311`` for hotline, with ``mapping=`` a file
  (CSV service_code,category or JSON object) or a dict.
- Nothing is committed inside: commit publishes the batch (and its NOTIFY on
  ``cityscreen_data``); an exception or a kill leaves nothing. ``LoadError`` (one line) means
  nothing was loaded: unreadable input, bad options, or a reject under ``strict``.
- Every row is loaded / updated / unchanged / rejected; rejects are in ``etl_reject``
  (line number — element number for JSON arrays and ``load_records`` — raw text, reason);
  ``BatchSummary.rejects`` holds the first few ``(line_no, reason)``.
- Re-loading the same input changes nothing (all ``unchanged``). An older row or update never
  overwrites a newer state (compared on ``status_at``); an older update is still recorded in
  the timeline and counts as ``updated``. Updates go through ``etl.lifecycle.check_transition``.
- Timeline: every new case gets a ``reported`` row in ``event_transition`` at reported_at,
  then one row per status change (UNIQUE (event_id, at, kind) keeps reloads idempotent).
- Throughput: the next chunk is parsed/validated in a worker thread while the database merges
  the current one; the work calendar and the grid assigner are reused across batches and
  rebuilt when the holiday table or the grid rows change. ``dict(summary)`` = ``as_json()``.
- Roll-up: ``etl.rollup.refresh_keys(conn, [(grid_code, hour), ...])`` or SQL
  ``SELECT refresh_event_hourly(grid_codes text[], hours timestamptz[])`` recomputes
  event_hourly for those keys from the raw events (grid_code '' = no location); geo's
  ``reassign`` calls it after moving events between grids.
"""
