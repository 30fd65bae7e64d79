"""An isolated database for the closed-loop KPI tests: city-wide totals must not see other
tests' events. Migrated like the session database and loaded with the same demo city."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg2
import pytest

from cityscreen import db
from tests.support import connection, create_database, drop_database


@pytest.fixture(scope="package")
def loop_url(database_url: str) -> Iterator[str]:
    """URL of a fresh, migrated database holding the demo city 420600 (~300 grids, seed 1)."""
    from geo.demo_city import generate, load
    from geo.schema import migrate

    url = create_database(database_url, "cityscreen_loop")
    conn = db.connect(url)
    try:
        migrate(conn)
        from etl.categories import seed_if_empty

        seed_if_empty(conn)
        demo = generate(grids=300, seed=1)
        load(conn, demo)
        conn.commit()
    finally:
        conn.close()
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="package")
def loop_city(loop_url: str) -> dict:
    """Codes of the demo city in the isolated database."""
    return _city_info(loop_url)


def _city_info(url: str) -> dict:
    conn = db.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT level, array_agg(code ORDER BY code) FROM admin_unit GROUP BY 1")
            return dict(cur.fetchall())
    finally:
        conn.close()


@pytest.fixture
def kconn(loop_url: str) -> Iterator[psycopg2.extensions.connection]:
    """A connection to the isolated database (commits are the test's own business)."""
    with connection(loop_url) as conn:
        yield conn
