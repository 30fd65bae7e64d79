"""Closed-loop commands: load categories, load holidays, escalate (called by etl/commands.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from cityscreen import db
from etl import categories, holidays


@click.command("categories")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--encoding", default="utf-8-sig", show_default=True,
              help="File encoding (gb18030 …).")
def load_categories(file: Path, encoding: str) -> None:
    """Replace the event taxonomy with FILE (CSV: code,parent,name,name_en,deadline_value,
    deadline_unit,priority), validated first and written in one transaction."""
    try:
        rows = categories.read_categories(file, encoding=encoding)
    except (categories.CategoryFileError, UnicodeDecodeError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    with db.transaction() as conn:
        n = categories.replace_categories(conn, rows)
        with conn.cursor() as cur:
            cur.execute("SELECT bump_data_version(NULL)")
    majors = sum(r.parent is None for r in rows)
    click.echo(f"已载入分类 {n} 条: {majors} 大类, {n - majors} 小类 (loaded {n} categories)")


@click.command("holidays")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--encoding", default="utf-8-sig", show_default=True,
              help="File encoding (gb18030 …).")
def load_holidays(file: Path, encoding: str) -> None:
    """Load official holidays and make-up working days from FILE (CSV: date,kind,name; kind
    holiday|workday or 休|班). They override the chinese-calendar package; loading a year
    makes its deadlines no longer provisional."""
    try:
        rows = holidays.read_holidays(file, encoding=encoding)
    except (holidays.HolidayFileError, UnicodeDecodeError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    with db.transaction() as conn:
        n = holidays.upsert_holidays(conn, rows)
    years = sorted({r.day.year for r in rows})
    click.echo(f"已载入节假日 {n} 天 ({', '.join(map(str, years))}) (loaded {n} days)")


@click.command("escalate")
@click.option("--at", "at", default=None, help="Evaluate as of this time (ISO 8601; default now).")
@click.option("--dry-run", is_flag=True, help="Show what would be escalated, change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@click.option("--every", type=click.FloatRange(1, None), default=None, metavar="S",
              help="Keep running: escalate again every S seconds until stopped (Ctrl-C); "
                   "a database outage is reported and retried, not fatal.")
def escalate_cmd(at: str | None, dry_run: bool, as_json: bool, every: float | None) -> None:
    """督办: raise the escalation level of overdue open cases by how far past the deadline
    they are (1× the allowed time → 街道 street, 2× → 区 district, 3× → 市 city)."""
    if every is None:
        _escalate_once(at, dry_run, as_json)
        return
    if at is not None:
        raise click.UsageError("--every evaluates as of each run's time; drop --at")
    try:
        while True:
            try:
                _escalate_once(None, dry_run, as_json)
            except db.DatabaseError as exc:
                click.echo(f"cityscreen: {exc}; retrying in {every:g} s", err=True)
            time.sleep(every)
    except KeyboardInterrupt:
        return


def _escalate_once(at: str | None, dry_run: bool, as_json: bool) -> None:
    from etl.escalate import escalate

    with db.transaction() as conn:
        summary = escalate(conn, at=at, dry_run=dry_run)
        if dry_run:
            conn.rollback()
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, default=str))
    else:
        levels = ", ".join(f"{k}: {v}" for k, v in summary["by_level"].items()) or "-"
        verb = "将督办" if dry_run else "已督办"
        click.echo(f"{verb} {summary['escalated']} 件 ({levels}) as of {summary['at']}")


def register(main: click.Group) -> None:
    """Attach the closed-loop commands to the `cityscreen` group."""
    main.commands["load"].add_command(load_categories, "categories")
    main.commands["load"].add_command(load_holidays, "holidays")
    main.add_command(escalate_cmd, "escalate")


def after_migrate(conn: object) -> None:
    """Seed the default taxonomy into an empty `category` table."""
    categories.after_migrate(conn)
