"""`cityscreen ingest watch DIR`: load feed files dropped into a directory.

Files are named ``<feed>-<anything>.csv|jsonl|json`` (feed: incidents, hotline, cameras,
updates, alerts). A file is taken only when complete: its size and mtime unchanged across two
polls; dotfiles and ``*.part`` / ``*.tmp`` / ``*.partial`` files are never touched (write there,
then rename). Each file is claimed by an atomic rename into ``DIR/.processing/``, loaded as one
batch, then moved to ``done/`` (the batch committed, rejects or not) or ``failed/`` (nothing
loaded), with ``<name>.report.json`` beside it. Nothing is ever deleted: when the database is
down the file goes back to DIR and is retried; a file left in ``.processing/`` by a killed
watcher (whose batch rolled back) is put back at the next start.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cityscreen import db
from cityscreen.settings import get_settings

log = logging.getLogger("cityscreen.etl.watch")

FEEDS = ("incidents", "hotline", "cameras", "updates", "alerts")
EXTENSIONS = (".csv", ".jsonl", ".json")
PARTIAL_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload", ".swp")
NAME = re.compile(r"^(?P<feed>[a-z0-9_]+)-.+\.(csv|jsonl|json)$", re.IGNORECASE)
PROCESSING, DONE, FAILED = ".processing", "done", "failed"
MAX_REPORT_REJECTS = 200

Loader = Callable[[str, Path], dict[str, Any]]


class WatchError(RuntimeError):
    """The watch directory cannot be used (missing, not writable); one line for people."""


@dataclass
class Outcome:
    """What happened to one dropped file."""

    name: str
    feed: str | None
    status: str  # done | failed | retry
    moved_to: Path | None = None
    report: Path | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def is_candidate(path: Path) -> bool:
    """A regular file the watcher may consider (not hidden, not partial, a feed extension)."""
    name = path.name
    if name.startswith(".") or name.lower().endswith(PARTIAL_SUFFIXES):
        return False
    return path.suffix.lower() in EXTENSIONS and path.is_file()


def feed_of(name: str) -> str | None:
    """The feed named by a file name ``<feed>-*.ext``, or None."""
    match = NAME.match(name)
    if not match:
        return None
    feed = match.group("feed").lower()
    return feed if feed in FEEDS else None


def load_with_pipeline(feed: str, path: Path) -> dict[str, Any]:
    """Load one file through the ETL pipeline in its own transaction; the batch summary."""
    from etl import pipeline
    from etl.batch import batch_rejects

    with db.transaction() as conn:
        summary = pipeline.load_file(conn, feed, path)
        out = summary.as_json()
        out["rows_per_second"] = round(summary.rows_per_second, 1)
        if summary.rejected and summary.batch_id is not None:
            out["rejects"] = batch_rejects(conn, summary.batch_id, MAX_REPORT_REJECTS)
    return out


class Watcher:
    """Polls one directory; :meth:`poll` handles every file found stable since the last poll."""

    def __init__(self, directory: Path, *, loader: Loader | None = None) -> None:
        self.dir = Path(directory)
        self.loader = loader or load_with_pipeline
        self._seen: dict[str, tuple[int, int]] = {}
        self.prepare()

    def prepare(self) -> None:
        """Check the directory, create done/ failed/ .processing/, requeue orphaned claims."""
        if not self.dir.is_dir():
            raise WatchError(f"{self.dir} is not a directory")
        for sub in (PROCESSING, DONE, FAILED):
            target = self.dir / sub
            try:
                target.mkdir(exist_ok=True)
            except OSError as exc:
                raise WatchError(f"cannot create {target}: {exc.strerror or exc}") from None
            if not target.is_dir() or not os.access(target, os.W_OK | os.X_OK):
                raise WatchError(f"{target} is not a writable directory")
        if not os.access(self.dir, os.W_OK | os.X_OK):
            raise WatchError(f"{self.dir} is not writable: files cannot be claimed")
        for orphan in sorted((self.dir / PROCESSING).iterdir()):
            back = self.dir / orphan.name
            if orphan.is_file() and not back.exists():
                log.warning("requeueing %s left by an interrupted watcher", orphan.name)
                os.replace(orphan, back)

    def _stable(self) -> list[Path]:
        """Candidates whose size and mtime did not change since the previous poll."""
        now: dict[str, tuple[int, int]] = {}
        ready = []
        try:
            entries = sorted(self.dir.iterdir())
        except OSError as exc:
            raise WatchError(f"cannot list {self.dir}: {exc.strerror or exc}") from None
        for path in entries:
            if not is_candidate(path):
                continue
            try:
                st = path.stat()
            except FileNotFoundError:  # renamed away meanwhile
                continue
            key = (st.st_size, st.st_mtime_ns)
            now[path.name] = key
            if self._seen.get(path.name) == key:
                ready.append(path)
        self._seen = now
        return ready

    def poll(self) -> list[Outcome]:
        """One pass: process every file that is complete (stable across two polls)."""
        outcomes = []
        for path in self._stable():
            outcome = self.process(path)
            if outcome is not None:
                outcomes.append(outcome)
                if outcome.status != "retry":
                    self._seen.pop(path.name, None)
        return outcomes

    def process(self, path: Path) -> Outcome | None:
        """Claim, load and file one complete file; None when another watcher claimed it."""
        feed = feed_of(path.name)
        claimed = self.dir / PROCESSING / path.name
        try:
            os.replace(path, claimed)  # atomic claim: two watchers never load the same file
        except FileNotFoundError:
            return None
        except OSError as exc:
            msg = f"cannot claim {path.name}: {exc.strerror or exc}"
            log.error(msg)
            return Outcome(path.name, feed, "retry", error=msg)
        started = datetime.now(get_settings().tz)
        report: dict[str, Any] = {"file": path.name, "feed": feed,
                                  "started_at": started.isoformat(timespec="seconds")}
        if feed is None:
            status, error = "failed", (f"cannot tell the feed from the name {path.name!r}: "
                                       f"name files <feed>-*.csv|jsonl|json, feed one of "
                                       f"{', '.join(FEEDS)}")
            summary: dict[str, Any] = {}
        else:
            status, error, summary = self._load(feed, claimed)
        if status == "retry":  # database down: put it back untouched, try again later
            self._move_back(claimed, path)
            log.error("%s: %s (will retry)", path.name, error)
            return Outcome(path.name, feed, "retry", error=error)
        report.update(status=status, error=error, batch=summary,
                      finished_at=datetime.now(get_settings().tz).isoformat(timespec="seconds"))
        moved = self._file(claimed, FAILED if status == "failed" else DONE)
        if moved is None:
            self._move_back(claimed, path)
            return Outcome(path.name, feed, "retry", error="could not move the file; left in place")
        report_path = self._write_report(moved, report)
        if status == "done":
            log.info("%s → %s: %s in, %s loaded, %s updated, %s rejected", path.name, moved,
                     summary.get("rows_in"), summary.get("loaded"), summary.get("updated"),
                     summary.get("rejected"))
        else:
            log.warning("%s → %s: %s", path.name, moved, error)
        return Outcome(path.name, feed, status, moved, report_path, summary, error)

    def _load(self, feed: str, path: Path) -> tuple[str, str | None, dict[str, Any]]:
        from etl.pipeline import LoadError

        try:
            return "done", None, self.loader(feed, path)
        except LoadError as exc:
            return "failed", str(exc), {}
        except db.DatabaseError as exc:
            return "retry", f"database unavailable: {exc}", {}
        except Exception as exc:  # a bug or a broken file must not stop the watcher
            log.exception("loading %s failed", path.name)
            return "failed", f"{type(exc).__name__}: {exc}", {}

    def _file(self, path: Path, sub: str) -> Path | None:
        """Move into done/ or failed/ without overwriting an earlier file of the same name."""
        target = self.dir / sub / path.name
        if target.exists():
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
            target = target.with_name(f"{target.stem}.{stamp}{target.suffix}")
        try:
            os.replace(path, target)
        except OSError as exc:
            log.error("cannot move %s to %s/: %s", path.name, sub, exc.strerror or exc)
            return None
        return target

    def _move_back(self, claimed: Path, original: Path) -> None:
        try:
            os.replace(claimed, original)
        except OSError as exc:
            log.error("cannot put %s back: %s; it stays in %s", original.name,
                      exc.strerror or exc, claimed.parent)

    def _write_report(self, moved: Path, report: dict[str, Any]) -> Path | None:
        path = moved.with_name(moved.name + ".report.json")
        tmp = path.with_name("." + path.name + ".part")
        try:
            tmp.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n",
                           encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:  # disk full, permissions: the file itself is already filed
            log.error("cannot write the report %s: %s", path, exc.strerror or exc)
            tmp.unlink(missing_ok=True)
            return None
        return path


def watch(directory: Path, *, interval: float = 2.0, once: bool = False,
          on_outcome: Callable[[Outcome], None] | None = None,
          stop: Callable[[], bool] | None = None, loader: Loader | None = None) -> list[Outcome]:
    """Poll ``directory`` every ``interval`` seconds; ``once``: two polls, then return."""
    watcher = Watcher(directory, loader=loader)
    outcomes: list[Outcome] = []
    watcher.poll()  # the first poll only records sizes
    while True:
        time.sleep(interval)
        try:
            found = watcher.poll()
        except WatchError as exc:
            if once:
                raise
            log.error("%s; retrying in %g s", exc, interval)  # e.g. a network share went away
            continue
        for outcome in found:
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        if once or (stop is not None and stop()):
            return outcomes
