"""CLI of the live path: `demo events`, `demo feed`, `ingest watch` (attached by etl.commands)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cityscreen import db
from cityscreen.settings import get_settings


def register(main: click.Group) -> None:
    """Attach `demo events`, `demo feed` and the `ingest` group to the `cityscreen` group."""
    demo = main.commands["demo"]
    assert isinstance(demo, click.Group)
    demo.add_command(demo_events, "events")
    demo.add_command(demo_feed, "feed")
    main.add_command(ingest_group, "ingest")


def _parse_end(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        end = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time", param_hint="--end") from None
    return end if end.tzinfo else end.replace(tzinfo=get_settings().tz)


@click.command("events")
@click.option("--days", type=click.IntRange(1, 3660), default=180, show_default=True,
              help="How many days of history, ending now.")
@click.option("--per-day", type=click.IntRange(1, 1_000_000), default=3000, show_default=True,
              help="Mean cases per day over all channels.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="Random seed (same seed, same data).")
@click.option("--cameras", "n_cameras", type=click.IntRange(0, 1_000_000), default=None,
              help="Number of cameras (default: 8 per grid, 200–5000).")
@click.option("--hotspots", "n_hotspots", type=click.IntRange(0, 100), default=None,
              help="Number of planted hotspots (default: one per 20 days, 3–12).")
@click.option("--city", "city_code", default=None, metavar="CODE",
              help="City code (default: the city in the database, e.g. 420600).")
@click.option("--end", "end", default=None, metavar="ISO_TIME",
              help="Last moment of the data (default: now).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the feed files go (default: $CITYSCREEN_HOME/demo).")
@click.option("--no-load", is_flag=True, help="Only write the feed files, do not load them.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object with files, batches, timings.")
def demo_events(days: int, per_day: int, seed: int, n_cameras: int | None, n_hotspots: int | None,
                city_code: str | None, end: str | None, out_dir: Path | None, no_load: bool,
                as_json: bool) -> None:
    """Generate realistic demo cases for the demo city and load them (演示事件).

    Writes the five feeds (cameras.csv, incidents.jsonl, hotline.jsonl, alerts.jsonl, updates.csv)
    and the planted-hotspot ground truth (hotspots_truth.json) under $CITYSCREEN_HOME/demo/,
    then loads them through the ordinary ETL pipeline. Needs the demo city's grids
    (`cityscreen demo generate`) and the category table (`cityscreen db migrate`).
    """
    from etl import demo_events as de

    out_dir = out_dir or de.demo_dir()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with db.transaction() as conn:
        try:
            ctx = de.load_city(conn, city_code, seed=seed)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    data = de.generate(ctx, days=days, per_day=per_day, seed=seed, end=_parse_end(end),
                       n_cameras=n_cameras, n_hotspots=n_hotspots)
    timings["generate"] = time.perf_counter() - started
    t = time.perf_counter()
    paths = de.write_feeds(data, out_dir)
    truth = de.write_truth(data, out_dir / "hotspots_truth.json", seed)
    timings["write"] = time.perf_counter() - t
    if not as_json:
        click.echo(f"生成 {data.n} 条事件、{len(data.cameras['id'])} 个摄像头、"
                   f"{len(data.hotspots)} 个热点 → {out_dir} "
                   f"({timings['generate']:.1f} s + 写文件 {timings['write']:.1f} s)")
    summaries: dict[str, Any] = {}
    if not no_load:
        t = time.perf_counter()

        def report(feed: str, summary: dict[str, Any]) -> None:
            if not as_json:
                click.echo(f"  {feed}: {_summary_line(summary)}")

        summaries = de.load_feeds(paths, progress=not as_json, on_loaded=report)
        timings["load"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - started
    if as_json:
        click.echo(json.dumps({
            "cases": data.n, "cameras": len(data.cameras["id"]), "hotspots": len(data.hotspots),
            "files": {k: str(v) for k, v in paths.items()}, "truth": str(truth),
            "batches": summaries, "seconds": {k: round(v, 2) for k, v in timings.items()},
        }, ensure_ascii=False, default=str))
    else:
        click.echo(f"热点真值 → {truth}; 共用时 {timings['total']:.1f} s")


def _summary_line(summary: dict[str, Any]) -> str:
    keys = ("rows_in", "loaded", "updated", "unchanged", "rejected")
    parts = [f"{k}={summary.get(k)}" for k in keys if k in summary]
    if "seconds" in summary:
        parts.append(f"{float(summary['seconds']):.1f} s")
    return ", ".join(parts)


@click.command("feed")
@click.option("--rate", default="20", show_default=True,
              help="New cases per second (or N/min, N/h), plus their status changes.")
@click.option("--url", default=None, metavar="URL",
              help="POST to the ingest endpoint of this server instead of writing directly.")
@click.option("--token", default=None, metavar="TOKEN",
              help="Bearer token for --url (default: INGEST_TOKEN).")
@click.option("--duration", type=click.FloatRange(0, None), default=None, metavar="S",
              help="Stop after S seconds (default: run until Ctrl-C).")
@click.option("--interval", type=click.FloatRange(0.05, 60), default=1.0, show_default=True,
              help="Seconds between batches.")
@click.option("--seed", type=int, default=None, help="Random seed (default: different each run).")
@click.option("--speed", type=click.FloatRange(0.01, 10_000), default=1.0, show_default=True,
              help="Run the cases' lifecycle this many times faster (1: closed in ~15 min).")
@click.option("--json", "as_json", is_flag=True,
              help="Print the totals as one JSON object at the end.")
def demo_feed(rate: str, url: str | None, token: str | None, duration: float | None,
              interval: float, seed: int | None, speed: float, as_json: bool) -> None:
    """Stream live demo cases, status changes and camera heartbeats (实时演示数据).

    New cases arrive at --rate in the mix of `demo events`; the feed's own cases move through
    受理 → 派遣 → 处置 → 核查 → 结案 within minutes (--speed: faster), open cases of
    `demo events` advance a step now and then (direct mode; other data is never touched),
    and cameras send heartbeats (a few drop offline or come back). Writes through the ETL
    pipeline directly, or POSTs to --url /api/v1/... with the bearer token.
    Needs the demo city in the database (`cityscreen demo`).
    """
    from etl import demo_feed as feed

    try:
        per_second = feed.parse_rate(rate)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--rate") from None
    if url and not (token or get_settings().ingest_token):
        raise click.UsageError("--url needs --token (or INGEST_TOKEN)")
    shown = [time.monotonic()]

    def progress(stats: feed.FeedStats) -> None:
        if as_json or time.monotonic() - shown[0] < 10:
            return
        shown[0] = time.monotonic()
        click.echo(_feed_line(stats))

    if not as_json:
        target = url or db.describe(db.writer_url())
        click.echo(f"实时演示数据 → {target}: 每分钟约 {per_second * 60:g} 条新事件 (Ctrl-C 停止)")
    try:
        stats = feed.run(rate=per_second, url=url, token=token or get_settings().ingest_token,
                         duration=duration, interval=interval, seed=seed, speed=speed,
                         on_tick=progress)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps(stats.as_json(), ensure_ascii=False))
    else:
        click.echo(_feed_line(stats))
    if stats.ticks and stats.errors == stats.ticks:
        raise click.ClickException(f"nothing delivered: {stats.last_error}")


def _feed_line(stats: Any) -> str:
    line = (f"新事件 {stats.new}, 状态变更 {stats.updates}, 心跳 {stats.heartbeats}; "
            f"入库 {stats.loaded}, 更新 {stats.updated}, 拒绝 {stats.rejected}")
    if stats.errors:
        line += f"; 失败批次 {stats.errors} ({stats.last_error})"
    return line


@click.group("ingest")
def ingest_group() -> None:
    """Live ingest: watch a drop directory (the HTTP endpoint lives in the app server)."""


@ingest_group.command("watch")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--once", is_flag=True,
              help="Poll twice (the size-stability check), load what is complete, then exit.")
@click.option("--interval", type=click.FloatRange(0.05, 3600), default=2.0, show_default=True,
              help="Seconds between polls.")
def ingest_watch(directory: Path, once: bool, interval: float) -> None:
    """Load feed files dropped into DIRECTORY (监视目录入库).

    \b
    Name files <feed>-<anything>.csv|jsonl|json, feed one of
    incidents, hotline, cameras, updates, alerts. Write them under a dotfile or *.part
    name and rename when complete; a file is also taken only once its size is stable
    across two polls. Each file is loaded as one batch and moved to done/ (committed,
    rejects listed) or failed/ (nothing loaded) with <name>.report.json beside it.
    When the database is down, files stay in DIRECTORY and are retried.
    With --once the exit code is 1 if any file failed or had to be left for a retry.
    """
    from etl.watch import Outcome, WatchError, watch

    def show(o: Outcome) -> None:
        s = o.summary
        if o.status == "done":
            click.echo(f"入库 {o.name} → {o.moved_to}: 读入 {s.get('rows_in')}, 新增 "
                       f"{s.get('loaded')}, 更新 {s.get('updated')}, 未变 {s.get('unchanged')}, "
                       f"拒绝 {s.get('rejected')} ({s.get('seconds')} s)")
        elif o.status == "failed":
            click.echo(f"失败 {o.name} → {o.moved_to}: {o.error}", err=True)
        else:
            click.echo(f"稍后重试 {o.name}: {o.error}", err=True)

    if not once:
        click.echo(f"监视 {directory} (每 {interval:g} s; Ctrl-C 停止)")
    try:
        outcomes = watch(directory, interval=interval, once=once, on_outcome=show)
    except WatchError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("已停止")
        return
    if once and any(o.status != "done" for o in outcomes):
        raise SystemExit(1)
