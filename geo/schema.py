"""Schema migrations: numbered ``geo/sql/NNN_name.sql`` files, each applied once, in order."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg2

from cityscreen.db import Connection, DatabaseError

log = logging.getLogger("cityscreen.db")

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
POSTGIS_HINT = "install PostGIS on the database server: apt-get install -y postgresql-15-postgis-3"


@dataclass(frozen=True)
class Migration:
    """One numbered schema file."""

    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """All packaged migrations, ordered by number."""
    found = []
    for item in resources.files("geo").joinpath("sql").iterdir():
        match = _NAME.match(item.name)
        if match:
            found.append(Migration(int(match.group(1)), item.name, item.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers in geo/sql: {versions}")
    return found


def applied_versions(conn: Connection) -> set[int]:
    """Versions already recorded in ``schema_migrations``."""
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        cur.execute("SELECT version FROM schema_migrations")
        versions = {row[0] for row in cur.fetchall()}
    conn.commit()
    return versions


def ensure_postgis(conn: Connection) -> None:
    """Create the PostGIS extension or fail with the command that installs it."""
    try:
        with conn.cursor() as cur:
            cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        conn.commit()
    except psycopg2.Error as exc:
        conn.rollback()
        reason = (exc.pgerror or str(exc)).strip().splitlines()[0]
        raise DatabaseError(f"PostGIS is not available ({reason}); {POSTGIS_HINT}") from None


def migrate(conn: Connection) -> list[str]:
    """Apply pending migrations, each in its own transaction; return the names applied."""
    ensure_postgis(conn)
    # Serialise concurrent migrators (several workers starting at once).
    with conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_lock(4206000001)")
    try:
        done = applied_versions(conn)
        applied = []
        for m in migrations():
            if m.version in done:
                continue
            try:
                with conn.cursor() as cur:
                    cur.execute(m.sql)
                    cur.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (m.version, m.name),
                    )
                conn.commit()
            except psycopg2.Error as exc:
                conn.rollback()
                reason = (exc.pgerror or str(exc)).strip().splitlines()[0]
                raise DatabaseError(f"migration {m.name} failed: {reason}") from None
            log.info("applied migration %s", m.name)
            applied.append(m.name)
        return applied
    finally:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(4206000001)")
        conn.commit()
