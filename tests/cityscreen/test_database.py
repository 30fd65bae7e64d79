"""The schema, migrations and roles, on the session's real PostGIS database."""

from __future__ import annotations

import select

import psycopg2
import pytest

from cityscreen import db
from geo.schema import migrate, migrations

TABLES = ("admin_unit", "category", "event", "event_transition", "camera", "event_hourly",
          "etl_batch", "etl_reject", "data_version", "holiday")


def _schema_fingerprint(conn: db.Connection) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY 1, 2"
        )
        cols = cur.fetchall()
        cur.execute("SELECT indexname, indexdef FROM pg_indexes"
                    " WHERE schemaname = 'public' ORDER BY 1")
        return cols + cur.fetchall()


def test_whole_schema_exists(conn: db.Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = {r[0] for r in cur.fetchall()}
    assert set(TABLES) <= tables


def test_migrations_apply_twice_without_change(conn: db.Connection) -> None:
    before = _schema_fingerprint(conn)
    assert migrate(conn) == []
    assert _schema_fingerprint(conn) == before
    with conn.cursor() as cur:
        cur.execute("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in cur.fetchall()] == [m.version for m in migrations()]


def test_every_geometry_column_has_a_gist_index(conn: db.Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT f_table_name, f_geometry_column FROM geometry_columns"
                    " WHERE f_table_schema = 'public'")
        geoms = cur.fetchall()
        cur.execute("SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'")
        indexes = cur.fetchall()
    assert geoms
    for table, column in geoms:
        if column == "geom_display":  # drawn, never searched
            continue
        has_gist = any(t == table and "gist" in d and f"({column})" in d for t, d in indexes)
        assert has_gist, (table, column)


def test_code_columns_have_prefix_indexes(conn: db.Connection) -> None:
    with conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_indexes WHERE indexdef LIKE '%text_pattern_ops%'")
        tables = {r[0] for r in cur.fetchall()}
    assert {"admin_unit", "event", "event_hourly", "camera"} <= tables


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO holiday (day, kind) VALUES ('2030-01-01', 'holiday')",
        "UPDATE data_version SET version = version + 1",
        "DELETE FROM etl_batch",
        "SELECT bump_data_version(NULL)",
    ],
)
def test_reader_role_cannot_write(database_url: str, sql: str) -> None:
    reader = db.connect(db.reader_url())
    try:
        with reader.cursor() as cur:
            cur.execute("SELECT current_user")
            assert cur.fetchone()[0] == "cityscreen_reader"
            with pytest.raises(psycopg2.Error) as err:
                cur.execute(sql)
        # read-only transaction / insufficient privilege
        assert err.value.pgcode in {"25006", "42501"}
    finally:
        reader.close()


def test_reader_role_can_read(database_url: str) -> None:
    rows = db.query("SELECT version FROM data_version", role="reader")
    assert len(rows) == 1


def test_writer_bumps_data_version_and_notifies(database_url: str) -> None:
    listener = db.connect(database_url)
    listener.autocommit = True
    try:
        with listener.cursor() as cur:
            cur.execute("LISTEN cityscreen_data")
        with db.transaction() as conn, conn.cursor() as cur:
            cur.execute("SELECT bump_data_version(NULL)")
            version = cur.fetchone()[0]
        payloads: list[str] = []
        for _ in range(50):  # delivery is asynchronous: wait up to 5 s for it
            if select.select([listener], [], [], 0.1)[0]:
                listener.poll()
                payloads = [n.payload for n in listener.notifies]
                if str(version) in payloads:
                    break
        assert str(version) in payloads
    finally:
        listener.close()


def test_transaction_rolls_back_on_error(database_url: str) -> None:
    with pytest.raises(RuntimeError), db.transaction() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO holiday (day, kind, name) VALUES ('2031-02-03', 'holiday', 'rb')")
        raise RuntimeError("boom")
    assert db.query("SELECT 1 FROM holiday WHERE day = '2031-02-03'", role="writer") == []
