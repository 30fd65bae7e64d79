"""The batch pipeline: read → validate/transform → locate → deadlines → stage → merge → roll-up.

One call = one batch = one transaction (the caller's: nothing is committed here, so a crash
or ``kill -9`` leaves nothing behind and a re-run completes the batch). Input is streamed in
chunks, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import gc
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from cityscreen.settings import get_settings
from etl import alerts, cameras, hotline, incidents, lifecycle, updates
from etl import columnar as columnar_mod
from etl import validate as v
from etl.batch import BatchSummary, bump_data_version, finish_batch, record_rejects, start_batch
from etl.load import (
    CameraItem,
    Direct,
    EventItem,
    HeartbeatItem,
    UpdateItem,
    apply_cameras,
    apply_direct,
    apply_events,
    apply_updates,
    create_staging,
    drop_secondary_indexes,
    existing_events,
    rebuild_indexes,
    render,
    render_direct,
    reserve_event_ids,
)
from etl.reader import (
    CHUNK_ROWS,
    FileSource,
    ReadError,
    Record,
    chunked,
    count_lines,
    detect_format,
    object_records,
)
from etl.rollup import refresh_touched

log = logging.getLogger("cityscreen.etl")

FEEDS: dict[str, ModuleType] = {
    "incidents": incidents,
    "hotline": hotline,
    "cameras": cameras,
    "updates": updates,
    "alerts": alerts,
}
PROGRESS_MIN_ROWS = 10_000
# A file of at least this many rows, and at least as many as `event` holds, is a bulk load:
# the case tables' secondary indexes are rebuilt once at the end instead of grown row by row.
BULK_MIN_ROWS = 100_000
BULK_FEEDS = ("incidents", "hotline", "alerts")
# Bulk loads of these feeds COPY their new cases straight into `event` (etl.load, "direct
# COPY"); alerts take their position from the camera table, so they are merged as usual.
DIRECT_FEEDS = ("incidents", "hotline")
# Incident CSV chunks are validated column-wise first (etl.columnar); False = per row only.
COLUMNAR = True


class LoadError(Exception):
    """The batch loaded nothing (unreadable input, --strict reject, bad options); one line."""


def check_transition(current: str, kind: str, **kw: Any) -> Any:
    """The lifecycle rule every status update goes through (one place to swap it)."""
    return lifecycle.check_transition(current, kind, **kw)


def load_file(conn: Any, feed: str, path: str | Path, *, crs: str = "wgs84",
              strict: bool = False, encoding: str = "utf-8", fmt: str | None = None,
              mapping: str | Path | dict[str, str] | None = None, progress: bool = False,
              chunk_size: int = CHUNK_ROWS) -> BatchSummary:
    """Load one file as one batch inside ``conn``'s transaction (the caller commits).

    ``fmt``: csv | jsonl | json (default: from the file name), or ``open311`` for hotline.
    """
    path = Path(path)
    open311 = fmt == "open311"
    if open311 and feed != "hotline":
        raise LoadError("--format open311 is for `load hotline` only")
    try:
        file_fmt = "json" if open311 else detect_format(path, fmt)
        source = FileSource(path, file_fmt, encoding)
    except ReadError as exc:
        raise LoadError(str(exc)) from None
    with source:
        lines = count_lines(path) if progress or feed in BULK_FEEDS else 0
        bar = _progress_bar(lines, feed) if progress else None
        bulk = _is_bulk(conn, feed, lines)
        try:
            with _few_collections(bulk):
                return _run(conn, feed, source.records(), file=str(path), crs=crs,
                            strict=strict, open311=open311, mapping=mapping,
                            chunk_size=chunk_size, checksum=lambda: source.checksum, bulk=bulk,
                            # One record per line: the file holds at most `lines` cases.
                            direct_rows=lines if file_fmt in ("csv", "jsonl") else 0,
                            columnar=COLUMNAR and feed == "incidents" and file_fmt == "csv",
                            on_chunk=(lambda n: bar.update(n)) if bar is not None else None)
        except ReadError as exc:
            raise LoadError(str(exc)) from None
        finally:
            if bar is not None:
                bar.close()


def load_records(conn: Any, feed: str, records: Iterable[dict[str, Any] | str | bytes], *,
                 source_name: str = "api", crs: str = "wgs84", strict: bool = False,
                 fmt: str | None = None, mapping: str | Path | dict[str, str] | None = None,
                 chunk_size: int = CHUNK_ROWS) -> BatchSummary:
    """Load parsed objects or raw JSON lines as one batch (HTTP endpoint, demo feed).

    ``line_no`` of a reject is the record's position (1-based). The caller commits.
    """
    return _run(conn, feed, object_records(records), file=source_name, crs=crs, strict=strict,
                open311=fmt == "open311", mapping=mapping, chunk_size=chunk_size)


# Youngest-generation threshold of the cyclic garbage collector during a bulk load (Python's
# default: 700 allocations). A chunk's records, field dicts and strings are tens of allocations
# per row and hold no cycles, yet each 700 of them triggered a collection, and every so often
# one over all the chunks in flight: a third of the reader's time.
BULK_GC_THRESHOLD = 50_000


@contextmanager
def _few_collections(bulk: bool) -> Iterator[None]:
    """Collect garbage less often for the duration of a bulk load (see BULK_GC_THRESHOLD)."""
    before = gc.get_threshold()
    if bulk:
        gc.set_threshold(BULK_GC_THRESHOLD, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _is_bulk(conn: Any, feed: str, lines: int) -> bool:
    """Whether a file of ``lines`` rows is a bulk load (see ``BULK_MIN_ROWS``)."""
    return (feed in BULK_FEEDS and lines >= BULK_MIN_ROWS
            and existing_events(conn, lines + 1) <= lines)


def _progress_bar(lines: int, feed: str) -> Any:
    if lines <= PROGRESS_MIN_ROWS:
        return None
    from tqdm import tqdm

    return tqdm(total=lines, unit="行", unit_scale=True, desc=f"load {feed}", leave=False)


def _context(conn: Any, crs: str, open311: bool,
             mapping: str | Path | dict[str, str] | None) -> v.Context:
    from geo import coords

    try:
        crs = coords.normalize_crs(crs)
    except ValueError as exc:
        raise LoadError(str(exc)) from None
    ctx = v.Context(tz=get_settings().tz, crs=crs, categories=v.load_categories(conn))
    if open311:
        if mapping is None:
            raise LoadError("--format open311 needs --mapping FILE (service_code,category)")
        if isinstance(mapping, dict):
            ctx.mapping = dict(mapping)
        else:
            try:
                ctx.mapping = hotline.read_mapping(mapping)
            except (v.Reject, ValueError) as exc:
                raise LoadError(str(exc)) from None
    return ctx


# Derived, read-only objects worth reusing across batches (the live path loads small batches
# often): keyed by what they are built from, so a changed holiday table or redrawn grids
# rebuild them. One entry each; a process serves one database.
_CALENDARS: dict[Any, Any] = {}
_ASSIGNERS: dict[Any, v.Locator] = {}


def _calendar(conn: Any) -> Any:
    from etl.holidays import holiday_overrides
    from etl.workcal import WorkCalendar

    overrides = holiday_overrides(conn)
    settings = get_settings()
    key = (frozenset(overrides.items()), settings.office_hours, settings.tz.key)
    cal = _CALENDARS.get(key)
    if cal is None:
        cal = WorkCalendar(overrides)
        _CALENDARS.clear()
        _CALENDARS[key] = cal
    return cal


class _Deadlines:
    """Deadlines from the category rules, computed per chunk with the closed loop's calendar."""

    def __init__(self, conn: Any) -> None:
        from etl.categories import deadline_rules

        self.calendar = _calendar(conn)
        self.rules = deadline_rules(conn)

    def fill(self, items: list[EventItem]) -> None:
        todo = [it for it in items if it.deadline_at is None]
        if not todo:
            return
        # Epoch microseconds in one zone (rows may mix +08:00 offsets and the configured
        # zone): far cheaper than handing pandas a list of aware datetimes.
        micros = np.fromiter((round(it.reported_at.timestamp() * 1_000_000) for it in todo),
                             dtype=np.int64, count=len(todo))
        starts = pd.DatetimeIndex(micros.astype("datetime64[us]")).tz_localize(UTC)
        at, provisional = self.calendar.deadlines_for_categories(
            starts, [it.category for it in todo], self.rules)
        # ISO text in UTC, formatted in one vectorised call (NaT where no rule applies).
        texts = np.datetime_as_string(at.tz_convert("UTC").tz_localize(None).to_numpy(),
                                      unit="s")
        missing = at.isna()
        for i, it in enumerate(todo):
            if not missing[i]:
                text = texts[i] + "Z"
                stamp = v.Stamp.fromisoformat(text)
                stamp.text = text
                it.deadline_at = stamp
                it.deadline_provisional = bool(provisional[i])


def _locator(conn: Any) -> v.Locator:
    """The grid locator, rebuilt only when the grid rows changed (any insert/update/delete
    changes the count or the sum of row versions)."""
    with conn.cursor() as cur:
        cur.execute("SELECT current_database(), count(*), coalesce(sum(xmin::text::bigint), 0)"
                    " FROM admin_unit WHERE level = 'grid'")
        key = cur.fetchone()
    locator = _ASSIGNERS.get(key)
    if locator is None:
        locator = v.Locator.from_db(conn)
        _ASSIGNERS.clear()
        _ASSIGNERS[key] = locator
    return locator


def _run(conn: Any, feed: str, records: Iterator[Record], *, file: str | None, crs: str,
         strict: bool, open311: bool, mapping: Any, chunk_size: int,
         checksum: Callable[[], str] | None = None,
         on_chunk: Callable[[int], None] | None = None, bulk: bool = False,
         columnar: bool = False, direct_rows: int = 0) -> BatchSummary:
    module = FEEDS.get(feed)
    if module is None:
        raise LoadError(f"unknown feed {feed!r}; expected one of {', '.join(FEEDS)}")
    started = time.perf_counter()
    ctx = _context(conn, crs, open311, mapping)
    transform = hotline.transform_open311 if open311 else module.transform
    create_staging(conn)
    batch_id = start_batch(conn, feed, file)
    summary = BatchSummary(batch_id=batch_id, feed=feed)
    locator = _locator(conn) if feed in ("incidents", "hotline", "cameras") else None
    deadlines = _Deadlines(conn) if feed in ("incidents", "hotline", "alerts") else None
    dropped = drop_secondary_indexes(conn) if bulk else []
    # Direct COPY needs `event` held exclusively: dropping its indexes took that lock.
    direct = None
    if direct_rows and feed in DIRECT_FEEDS and any(t == "event" for t, _ in dropped):
        direct = _DirectIds(reserve_event_ids(conn, direct_rows), direct_rows, module.SOURCE,
                            batch_id)

    def prepare(chunk: list[Record]) -> _Prepared:
        started = time.perf_counter()
        prep = _prepare(chunk, feed, transform, ctx, locator, deadlines, columnar, direct)
        log.debug("prepare %d rows %.1f ms", len(chunk), (time.perf_counter() - started) * 1000)
        return prep

    # Parsing and validating the next chunk overlaps with the database merging this one.
    for prep in _in_background(map(prepare, chunked(records, chunk_size))):
        summary.rows_in += prep.rows
        if feed == "updates":
            result = apply_updates(conn, batch_id, prep.items, check_transition)
        elif feed == "cameras":
            result = apply_cameras(conn, batch_id,
                                   [i for i in prep.items if isinstance(i, CameraItem)],
                                   [i for i in prep.items if isinstance(i, HeartbeatItem)])
        else:
            summary.unchanged += prep.superseded
            if prep.direct is not None:
                result = apply_direct(conn, module.SOURCE, batch_id, prep.direct)
            else:
                result = apply_events(conn, module.SOURCE, batch_id, prep.items, prep.rendered)
        rejects = prep.rejects + [(n, prep.raw.get(n, ""), reason)
                                  for n, reason in prep.late + result.rejects]
        summary.loaded += result.loaded
        summary.updated += result.updated
        summary.unchanged += result.unchanged
        summary.rejected += len(rejects)
        record_rejects(conn, batch_id, rejects)
        if len(summary.rejects) < 5:
            summary.rejects.extend((n, reason) for n, _, reason in rejects[:5])
        if strict and summary.rejected:
            first = "; ".join(f"line {n}: {r}" for n, r in summary.rejects[:3])
            raise LoadError(f"--strict: {summary.rejected} row(s) rejected, nothing loaded "
                            f"({first})")
        if on_chunk is not None:
            on_chunk(prep.rows)

    # The roll-up refresh reads events by (grid_code, hour): their indexes first.
    rebuild_indexes(conn, dropped, ("event", "event_transition"))
    if feed != "cameras":
        refresh_touched(conn, direct.reserved if direct is not None else None)
    rebuild_indexes(conn, dropped, ("event_hourly",))
    summary.checksum = checksum() if checksum else None
    summary.seconds = time.perf_counter() - started
    finish_batch(conn, summary, {"crs": ctx.crs, "format": "open311" if open311 else None})
    bump_data_version(conn, batch_id)
    log.info("batch %s %s: %d in, %d loaded, %d updated, %d unchanged, %d rejected, %.2f s",
             batch_id, feed, summary.rows_in, summary.loaded, summary.updated,
             summary.unchanged, summary.rejected, summary.seconds)
    return summary


@dataclass
class _Prepared:
    """One chunk after everything that needs no database: items, rejects, COPY text."""

    rows: int
    raw: dict[int, str]
    items: list[Any]
    rejects: list[tuple[int, str, str]]  # (line_no, raw, reason) found while parsing
    late: list[tuple[int, str]] = field(default_factory=list)  # (line_no, reason): location
    superseded: int = 0
    rendered: Any = None  # staging COPY text (events, transitions)
    direct: Direct | None = None  # or: direct COPY text (bulk loads)


@dataclass
class _DirectIds:
    """The case ids reserved for a bulk load's direct COPY, handed out chunk by chunk (by the
    one thread that prepares chunks)."""

    next_id: int
    left: int
    source: str
    batch_id: int
    reserved: tuple[int, int] = (0, 0)  # [first, end) of the whole block

    def __post_init__(self) -> None:
        self.reserved = (self.next_id, self.next_id + self.left)

    def take(self, n: int) -> int | None:
        """The first of ``n`` consecutive ids, or None when the block is used up."""
        if n > self.left:
            return None
        first = self.next_id
        self.next_id += n
        self.left -= n
        return first


def _prepare(chunk: list[Record], feed: str, transform: Callable[..., Any], ctx: v.Context,
             locator: v.Locator | None, deadlines: _Deadlines | None,
             columnar: bool = False, direct: _DirectIds | None = None) -> _Prepared:
    """Validate, locate, compute deadlines and render the COPY text of one chunk.

    ``columnar`` (incident CSV): the chunk's plain rows are done column-wise first
    (``etl.columnar``); the rest take the per-row path below. ``direct``: render the cases
    for direct COPY into ``event`` (bulk loads) instead of for staging.
    """
    fast = None
    if columnar and locator is not None and deadlines is not None:
        fast = columnar_mod.split_incidents(chunk, ctx, locator, deadlines)
    prep = _prepare_rows(chunk if fast is None else fast.slow, feed, transform, ctx, locator,
                         deadlines)
    prep.rows = len(chunk)
    if fast is not None:
        prep.raw = {r.line_no: r.raw for r in chunk}
        prep.late += fast.late
    if feed in ("updates", "cameras"):
        return prep
    # Staging order: the column-wise rows first, then the per-row ones.
    slow = [it.stage_row() for it in prep.items]
    timeline: Iterable[Any] = ((it.line_no, it.source_id, *t) for it in prep.items
                               for t in it.transitions)
    if fast is not None:
        timeline = itertools.chain(zip(*fast.transitions[0], strict=True), timeline)
    if direct is not None and not any(it.camera_id for it in prep.items):
        if fast is None:
            columns = [list(col) for col in zip(*slow, strict=True)] if slow else [[]] * 29
        elif slow:
            columns = [a + list(b) for a, b in zip(fast.events[0], zip(*slow, strict=True),
                                                    strict=True)]
        else:
            columns = fast.events[0]
        first = direct.take(len(columns[1]))
        if first is not None:
            prep.direct = render_direct(columns, timeline, first, direct.source,
                                        direct.batch_id)
            return prep
    events: Iterable[Any] = slow
    if fast is not None:
        events = itertools.chain(zip(*fast.events[0], strict=True), slow)
    prep.rendered = (render(events), render(timeline))
    return prep


def _prepare_rows(chunk: list[Record], feed: str, transform: Callable[..., Any],
                  ctx: v.Context, locator: v.Locator | None,
                  deadlines: _Deadlines | None) -> _Prepared:
    """The per-row path: every row validated by the feed's ``transform``."""
    items, rejects = _transform_chunk(chunk, transform, ctx)
    prep = _Prepared(len(chunk), {r.line_no: r.raw for r in chunk}, items, rejects)
    if locator is not None:
        prep.late = _locate(items, locator)
    if feed not in ("updates", "cameras"):
        events = [i for i in prep.items if isinstance(i, EventItem)]
        if deadlines is not None:
            deadlines.fill(events)
        prep.items, prep.superseded = _one_per_case(events)
    return prep


_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _in_background(produce: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Run an iterator in a worker thread, ``depth`` items ahead; its errors re-raised here."""
    out: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in produce:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consuming thread
            put(_Failure(exc))

    worker = threading.Thread(target=work, name="etl-prepare", daemon=True)
    worker.start()
    try:
        while True:
            started = time.perf_counter()
            item = out.get()
            log.debug("wait for prepare %.1f ms", (time.perf_counter() - started) * 1000)
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        worker.join()


def _transform_chunk(chunk: list[Record], transform: Callable[..., Any], ctx: v.Context
                     ) -> tuple[list[Any], list[tuple[int, str, str]]]:
    """Per-row validation; every row becomes an item or a reject."""
    items: list[Any] = []
    rejects: list[tuple[int, str, str]] = []
    for rec in chunk:
        if rec.data is None:
            rejects.append((rec.line_no, rec.raw, rec.error or "unreadable row"))
            continue
        # A NUL in the data shows in the raw text, as itself or JSON-escaped: the walk over
        # every field is only needed then.
        if "\x00" in rec.raw or "\\u0000" in rec.raw:
            nul_in = v.nul_field(rec.data)
            if nul_in is not None or "\x00" in rec.raw:
                reason = f"NUL character (\\x00) in {nul_in or 'the row'}"
                rejects.append((rec.line_no, rec.raw, reason))
                continue
        try:
            item = transform(rec.data, ctx)
        except v.Reject as exc:
            rejects.append((rec.line_no, rec.raw, str(exc)))
            continue
        item.line_no = rec.line_no
        items.append(item)
    return items, rejects


def _locate(items: list[Any], locator: v.Locator) -> list[tuple[int, str]]:
    """Convert to WGS-84 and assign grids in one vectorised pass; outside the city → reject."""
    located = [it for it in items if getattr(it, "point", None) is not None]
    if not located:
        return []
    lon, lat, grids = locator.locate([it.point[0] for it in located],
                                     [it.point[1] for it in located],
                                     [it.point[2] for it in located])
    outside: set[int] = set()
    rejects: list[tuple[int, str]] = []
    for i, it in enumerate(located):
        grid = grids[i]
        if grid is None:
            outside.add(id(it))
            rejects.append((it.line_no, f"outside the city: ({it.point[0]}, {it.point[1]}) "
                                        f"{it.point[2]} is in no grid"))
            continue
        it.lon, it.lat, it.grid_code = float(lon[i]), float(lat[i]), str(grid)
        claimed = getattr(it, "claimed_grid", None)
        if claimed and claimed != it.grid_code:
            it.attrs["grid_code_reported"] = claimed
            it.attrs["grid_code_mismatch"] = True
    if outside:
        items[:] = [it for it in items if id(it) not in outside]
    return rejects


def _one_per_case(items: list[EventItem]) -> tuple[list[EventItem], int]:
    """Keep the newest row per case within a chunk; older duplicates add only their timeline."""
    best: dict[str, EventItem] = {}
    superseded = 0
    for it in items:
        have = best.get(it.source_id)
        if have is None:
            best[it.source_id] = it
            continue
        superseded += 1
        newer, older = ((it, have) if (it.status_at, it.line_no) >= (have.status_at, have.line_no)
                        else (have, it))
        newer.transitions.extend(older.transitions)
        best[it.source_id] = newer
    return list(best.values()), superseded


__all__ = ["FEEDS", "BatchSummary", "LoadError", "UpdateItem", "load_file", "load_records"]
