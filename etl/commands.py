"""Command-line commands contributed by the `etl` package (registered by `cityscreen.cli`).

ETL-core's own commands — `load incidents|hotline|cameras|updates|alerts FILE` and
`load report` — live here; the live path (`etl/live_commands.py`) and the closed loop
(`etl/loop_commands.py`) keep theirs in their own modules, attached by :func:`register`.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import click

from cityscreen import db

# Sibling command modules owned by other engineers; each exposes register(main) and may
# expose after_migrate(conn).
_PARTS = ("etl.live_commands", "etl.loop_commands")


def _parts() -> list[ModuleType]:
    return [importlib.import_module(name) for name in _PARTS if importlib.util.find_spec(name)]


def _columns_help(columns: tuple[tuple[str, bool, str], ...]) -> str:
    lines = []
    for name, need, meaning in columns:
        lines.append(f"  {name}{' (required)' if need else ''}: {meaning}")
    return "\n\n\b\n" + "\n".join(lines)


def _print_summary(summary: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary.as_json(), ensure_ascii=False))
        return
    click.echo(
        f"batch {summary.batch_id} {summary.feed}: {summary.rows_in} rows — "
        f"新增 loaded {summary.loaded}, 更新 updated {summary.updated}, "
        f"未变 unchanged {summary.unchanged}, 拒绝 rejected {summary.rejected} · "
        f"{summary.seconds:.2f} s · {summary.rows_per_second:,.0f} rows/s"
    )
    for line_no, reason in summary.rejects[:5]:
        click.echo(f"  rejected line {line_no}: {reason}", err=True)
    if summary.rejected:
        click.echo(f"  see all: cityscreen load report --batch {summary.batch_id}", err=True)


def _check_crs(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from geo.coords import normalize_crs

    try:
        return normalize_crs(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _run_load(feed: str, file: Path, *, crs: str, strict: bool, as_json: bool, encoding: str,
              fmt: str | None = None, mapping: Path | None = None,
              chunk_size: int | None = None) -> None:
    from etl.pipeline import LoadError, load_file

    try:
        with db.transaction() as conn:
            summary = load_file(conn, feed, file, crs=crs, strict=strict, encoding=encoding,
                                fmt=fmt, mapping=mapping, progress=not as_json,
                                **({"chunk_size": chunk_size} if chunk_size else {}))
    except LoadError as exc:
        click.echo(f"cityscreen: {exc}", err=True)
        sys.exit(1)
    except db.DatabaseError:
        raise
    except Exception as exc:  # a database error mid-batch: one line, nothing loaded
        import psycopg2

        if isinstance(exc, psycopg2.Error):
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            click.echo(f"cityscreen: load failed, nothing loaded: {first}", err=True)
            sys.exit(1)
        raise
    _print_summary(summary, as_json)


def _load_command(feed: str, columns: tuple[tuple[str, bool, str], ...], summary: str,
                  extra_help: str = "") -> click.Command:
    @click.command(feed, help=f"{summary}\n\nColumns (CSV header or JSON keys; others go to "
                              f"attrs):{_columns_help(columns)}{extra_help}")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--crs", default="wgs84", show_default=True, callback=_check_crs,
                  help="Coordinate system of rows without a crs column: wgs84, cgcs2000, "
                       "gcj02, bd09.")
    @click.option("--strict", is_flag=True, help="Any rejected row aborts the batch (exit 1).")
    @click.option("--json", "as_json", is_flag=True, help="Print the batch summary as JSON.")
    @click.option("--encoding", default="utf-8", show_default=True,
                  help="File encoding (a UTF-8 BOM is accepted; e.g. gb18030).")
    @click.option("--chunk-size", type=click.IntRange(1, 10_000_000), hidden=True,
                  help="Rows per staged chunk (tests, tuning).")
    def command(file: Path, crs: str, strict: bool, as_json: bool, encoding: str,
                chunk_size: int | None) -> None:
        _run_load(feed, file, crs=crs, strict=strict, as_json=as_json, encoding=encoding,
                  chunk_size=chunk_size)

    return command


def _hotline_command() -> click.Command:
    from etl import hotline

    @click.command("hotline", help=(
        "Load 12345 hotline tickets (JSON Lines), or an Open311 GeoReport v2 requests.json "
        "array with --format open311 --mapping FILE.\n\nColumns (others go to attrs):"
        f"{_columns_help(hotline.COLUMNS)}\n\nOpen311 fields:"
        f"{_columns_help(hotline.OPEN311_COLUMNS)}\n\n"
        "Mapping FILE: CSV service_code,category or a JSON object {service_code: category}."))
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--format", "fmt", type=click.Choice(["jsonl", "open311"]), default="jsonl",
                  show_default=True, help="Input format.")
    @click.option("--mapping", type=click.Path(dir_okay=False, path_type=Path),
                  help="Open311 service_code → category mapping file.")
    @click.option("--crs", default="wgs84", show_default=True, callback=_check_crs,
                  help="Coordinate system of rows without a crs column.")
    @click.option("--strict", is_flag=True, help="Any rejected row aborts the batch (exit 1).")
    @click.option("--json", "as_json", is_flag=True, help="Print the batch summary as JSON.")
    @click.option("--encoding", default="utf-8", show_default=True, help="File encoding.")
    def command(file: Path, fmt: str, mapping: Path | None, crs: str, strict: bool,
                as_json: bool, encoding: str) -> None:
        if fmt == "open311" and mapping is None:
            raise click.UsageError("--format open311 needs --mapping FILE")
        _run_load("hotline", file, crs=crs, strict=strict, as_json=as_json, encoding=encoding,
                  fmt="open311" if fmt == "open311" else None, mapping=mapping)

    return command


@click.command("report")
@click.option("--batch", "batch_id", type=int, help="Show this batch and its rejects.")
@click.option("--limit", default=20, show_default=True, help="How many recent batches.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def load_report(batch_id: int | None, limit: int, as_json: bool) -> None:
    """Recent load batches (批次) and their counts; with --batch, that batch's rejects."""
    from etl.batch import batch_rejects, recent_batches

    with db.transaction() as conn:
        batches = recent_batches(conn, limit=max(limit, 1) if batch_id is None else 100_000)
        if batch_id is not None:
            batches = [b for b in batches if b["id"] == batch_id]
            if not batches:
                raise click.ClickException(f"no batch {batch_id}")
            rejects = batch_rejects(conn, batch_id)
    if as_json:
        out: Any = batches if batch_id is None else {**batches[0], "rejects": rejects}
        click.echo(json.dumps(out, ensure_ascii=False, default=str))
        return
    click.echo(f"{'batch':>6} {'feed':<10} {'started':<19} {'in':>8} {'loaded':>8} "
               f"{'updated':>8} {'same':>8} {'rejected':>8} {'secs':>7}  file")
    for b in batches:
        started = b["started_at"].strftime("%Y-%m-%d %H:%M:%S") if b["started_at"] else ""
        secs = f"{b['seconds']:.1f}" if b["seconds"] is not None else "-"
        click.echo(f"{b['id']:>6} {b['feed']:<10} {started:<19} {b['rows_in']:>8} "
                   f"{b['rows_loaded']:>8} {b['rows_updated']:>8} {b['rows_unchanged']:>8} "
                   f"{b['rows_rejected']:>8} {secs:>7}  {b['file'] or ''}")
    if batch_id is not None:
        click.echo(f"\nrejects (拒绝) of batch {batch_id}: {len(rejects)}")
        for r in rejects:
            raw = (r["raw"] or "").replace("\n", " ")
            raw = raw if len(raw) <= 120 else raw[:117] + "..."
            click.echo(f"  line {r['line_no']}: {r['reason']}\n      {raw}")


def register(main: click.Group) -> None:
    """Attach this package's commands to the `cityscreen` command group."""
    from etl import alerts, cameras, incidents, updates

    load = main.commands["load"]
    assert isinstance(load, click.Group)
    load.add_command(_load_command(
        "incidents", incidents.COLUMNS,
        "Load grid-worker incidents (网格员上报), CSV or JSON Lines, as cases of channel "
        "grid_worker."))
    load.add_command(_hotline_command())
    load.add_command(_load_command(
        "cameras", cameras.COLUMNS,
        "Load CCTV cameras (雪亮工程) and heartbeats, CSV or JSON Lines. A heartbeat row is "
        "camera_id,status,at; one for an unknown camera is rejected."))
    load.add_command(_load_command(
        "updates", updates.COLUMNS,
        "Load status updates of cases of any channel, CSV or JSON Lines. An older update is "
        "recorded in the timeline without changing the state; an impossible transition is "
        "rejected."))
    load.add_command(_load_command(
        "alerts", alerts.COLUMNS,
        "Load video-AI alerts (JSON Lines); each takes its camera's position and becomes a "
        "case of channel video_ai."))
    load.add_command(load_report)
    for module in _parts():
        module.register(main)


def after_migrate(conn: Any) -> None:
    """Post-migration seeding of the etl package (default categories, ...)."""
    for module in _parts():
        hook = getattr(module, "after_migrate", None)
        if hook is not None:
            hook(conn)
