"""Batch bookkeeping: the ``etl_batch`` row, ``etl_reject`` rows and the data version bump."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from etl.load import render


@dataclass
class BatchSummary:
    """The outcome of one batch; :meth:`as_json` is the `--json` contract of FEEDS.md."""

    batch_id: int | None
    feed: str
    rows_in: int = 0
    loaded: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    seconds: float = 0.0
    checksum: str | None = None
    rejects: list[tuple[int, str]] = field(default_factory=list)  # first few (line_no, reason)

    @property
    def rows_per_second(self) -> float:
        """Input rows per second of wall time."""
        return self.rows_in / self.seconds if self.seconds > 0 else 0.0

    # Mapping protocol, so dict(summary) gives the --json object too.
    def keys(self) -> tuple[str, ...]:
        """The ``--json`` keys."""
        return tuple(self.as_json())

    def __getitem__(self, key: str) -> Any:
        return self.as_json()[key]

    def as_json(self) -> dict[str, Any]:
        """Exactly the keys FEEDS.md promises for ``--json``."""
        keys = ("batch_id", "feed", "rows_in", "loaded", "updated", "unchanged", "rejected",
                "seconds")
        data = asdict(self)
        out = {k: data[k] for k in keys}
        out["seconds"] = round(self.seconds, 3)
        return out


def start_batch(conn: Any, feed: str, file: str | None) -> int:
    """Insert the ``etl_batch`` row (inside the batch's transaction) and return its id."""
    with conn.cursor() as cur:
        cur.execute("INSERT INTO etl_batch (feed, file) VALUES (%s, %s) RETURNING id", (feed, file))
        return int(cur.fetchone()[0])


def finish_batch(conn: Any, summary: BatchSummary, attrs: dict[str, Any] | None = None) -> None:
    """Record the counts and the finish time of the batch."""
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE etl_batch SET finished_at = clock_timestamp(), checksum = %s, rows_in = %s,"
            " rows_loaded = %s, rows_updated = %s, rows_unchanged = %s, rows_rejected = %s,"
            " attrs = attrs || %s::jsonb WHERE id = %s",
            (summary.checksum, summary.rows_in, summary.loaded, summary.updated,
             summary.unchanged, summary.rejected, json.dumps(attrs or {}), summary.batch_id),
        )


def _no_nul(text: str) -> str:
    """PostgreSQL text cannot hold NUL: keep the text readable with the byte escaped."""
    return text.replace("\x00", "\\x00")


def record_rejects(conn: Any, batch_id: int, rejects: Sequence[tuple[int, str, str]]) -> None:
    """COPY ``(line_no, raw, reason)`` rows into ``etl_reject`` for the batch."""
    if not rejects:
        return
    # Several rejects may share a line (a JSON array on one line); keep the first.
    first: dict[int, tuple[Any, ...]] = {}
    for line_no, raw, reason in rejects:
        first.setdefault(line_no, (batch_id, line_no, _no_nul(raw), _no_nul(reason)))
    text, _ = render(first.values())
    with conn.cursor() as cur:
        cur.copy_expert("COPY etl_reject (batch_id, line_no, raw, reason) FROM STDIN"
                        " WITH (FORMAT csv)", io.StringIO(text))


def bump_data_version(conn: Any, batch_id: int | None) -> int:
    """Bump ``data_version`` and NOTIFY ``cityscreen_data`` (delivered when the batch commits)."""
    with conn.cursor() as cur:
        cur.execute("SELECT bump_data_version(%s)", (batch_id,))
        return int(cur.fetchone()[0])


def recent_batches(conn: Any, limit: int = 20) -> list[dict[str, Any]]:
    """The latest batches, newest first (for `load report`)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, feed, file, started_at, finished_at, rows_in, rows_loaded, rows_updated,"
            " rows_unchanged, rows_rejected,"
            " extract(epoch FROM finished_at - started_at) AS seconds"
            " FROM etl_batch ORDER BY id DESC LIMIT %s", (limit,))
        cols = [d.name for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]


def batch_rejects(conn: Any, batch_id: int, limit: int = 1000) -> list[dict[str, Any]]:
    """The rejects of one batch in line order."""
    with conn.cursor() as cur:
        cur.execute("SELECT line_no, reason, raw FROM etl_reject WHERE batch_id = %s"
                    " ORDER BY line_no LIMIT %s", (batch_id, limit))
        return [{"line_no": n, "reason": r, "raw": raw} for n, r, raw in cur.fetchall()]
