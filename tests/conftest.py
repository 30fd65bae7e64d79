"""Session fixtures: every test run gets its own throwaway, migrated PostGIS database.

The server is ``DATABASE_URL``'s when set, else the private cluster (started if needed).
Tests fail, never skip, when no database can be had.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import psycopg2
import pytest

from cityscreen import db, pgcluster
from cityscreen.settings import get_settings
from tests.support import connection, create_database, drop_database


def _admin_url() -> str:
    settings = get_settings()
    if settings.uses_private_cluster:
        pgcluster.up(settings)
    return db.writer_url(settings)


@pytest.fixture(scope="session", autouse=True)
def database_url() -> Iterator[str]:
    """URL of this session's database; also exported as ``DATABASE_URL`` for subprocesses."""
    url = create_database(_admin_url(), "cityscreen_test")
    saved = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    get_settings.cache_clear()
    db.close_pools()
    from cityscreen.cli import migrate_database

    migrate_database()
    try:
        yield url
    finally:
        db.close_pools()
        if saved is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = saved
        get_settings.cache_clear()
        drop_database(url)


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg2.extensions.connection]:
    """A writer connection to the session database; rolled back and closed after the test."""
    with connection(database_url) as conn:
        yield conn


@pytest.fixture(scope="session")
def city(database_url: str) -> object:
    """The demo city 襄阳市 420600 (~300 grids, seed 1) loaded once into the session database.

    Returns a ``geo.demo_city.CityInfo`` dict: ``code`` ('420600'), ``name``, code lists per
    level (``city["district"]``, ``city.grid`` ...; also ``city["codes"][level]``) and
    ``points``: {grid code: (lon, lat)} a WGS-84 point inside each grid.
    """
    from geo.demo_city import generate, info, load

    demo = generate(grids=300, seed=1)
    with db.transaction() as connection:
        load(connection, demo)
    return info(demo)
