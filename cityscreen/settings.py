"""One settings object, read from the environment once. Nothing else reads ``os.environ``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_PG_PORT = 54329
READER_ROLE = "cityscreen_reader"
WRITER_ROLE = "cityscreen_writer"


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Runtime configuration of every cityscreen process."""

    home: Path
    database_url: str | None
    database_read_url: str | None
    redis_url: str | None
    tz: ZoneInfo
    ingest_token: str | None
    host: str
    port: int
    pg_port: int
    statement_timeout_ms: int
    ingest_max_bytes: int
    camera_offline_minutes: int
    version_publish_ms: int = 2000  # screens see a new data_version at most this often (Redis)
    office_hours: tuple[tuple[int, int], ...] = field(default=((540, 720), (780, 1080)))
    tile_url: str | None = None  # raster XYZ tiles under the dashboard maps; None = offline
    tile_crs: str = "wgs84"      # coordinate system the tiles are drawn in (wgs84|gcj02|bd09)

    @property
    def pg_dir(self) -> Path:
        """Directory of the private PostgreSQL cluster."""
        return self.home / "pg"

    @property
    def uses_private_cluster(self) -> bool:
        """True when no external ``DATABASE_URL`` is configured."""
        return self.database_url is None


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={value} is out of range [{lo}, {hi}]")
    return value


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes:
        raise SettingsError(
            f"{name} must start with {' or '.join(s + '://' for s in schemes)}"
            f" (got {parts.scheme or 'no scheme'!r})"
        )
    return raw


def _office_hours(env: Mapping[str, str]) -> tuple[tuple[int, int], ...]:
    """Parse ``CITYSCREEN_OFFICE_HOURS`` like ``09:00-12:00,13:00-18:00`` into minute ranges."""
    raw = env.get("CITYSCREEN_OFFICE_HOURS", "09:00-12:00,13:00-18:00")
    spans = []
    try:
        for part in raw.split(","):
            start, end = part.strip().split("-")
            h1, m1 = (int(x) for x in start.split(":"))
            h2, m2 = (int(x) for x in end.split(":"))
            a, b = h1 * 60 + m1, h2 * 60 + m2
            if not 0 <= a < b <= 24 * 60:
                raise ValueError
            spans.append((a, b))
    except ValueError:
        raise SettingsError(
            f"CITYSCREEN_OFFICE_HOURS={raw!r} must look like 09:00-12:00,13:00-18:00"
        ) from None
    spans.sort()
    if any(spans[i][1] > spans[i + 1][0] for i in range(len(spans) - 1)):
        raise SettingsError(f"CITYSCREEN_OFFICE_HOURS={raw!r} has overlapping spans")
    return tuple(spans)


TILE_CRS = {"wgs84": "wgs84", "cgcs2000": "wgs84", "gcj02": "gcj02", "bd09": "bd09"}


def _tile_url(env: Mapping[str, str]) -> str | None:
    """``CITYSCREEN_TILE_URL``: an http(s) XYZ template with ``{z}``, ``{x}`` and ``{y}``."""
    url = _url(env, "CITYSCREEN_TILE_URL", ("http", "https"))
    if url is not None and not all(k in url for k in ("{z}", "{x}", "{y}")):
        raise SettingsError(f"CITYSCREEN_TILE_URL={url!r} needs {{z}}, {{x}} and {{y}}")
    return url


def _tile_crs(env: Mapping[str, str]) -> str:
    """``CITYSCREEN_TILE_CRS``: wgs84 (also cgcs2000), gcj02 (AMap, Tencent) or bd09 (Baidu)."""
    raw = env.get("CITYSCREEN_TILE_CRS") or "wgs84"
    key = raw.strip().lower().replace("-", "").replace("_", "")
    if key not in TILE_CRS:
        raise SettingsError(f"CITYSCREEN_TILE_CRS={raw!r} must be wgs84, gcj02 or bd09")
    return TILE_CRS[key]


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (default: the process environment), failing on bad values."""
    env = os.environ if env is None else env
    tz_name = env.get("CITYSCREEN_TZ", "Asia/Shanghai")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"CITYSCREEN_TZ={tz_name!r} is not a known IANA time zone") from None
    pg = ("postgresql", "postgres")
    return Settings(
        home=Path(env.get("CITYSCREEN_HOME", ".cityscreen")).expanduser().resolve(),
        database_url=_url(env, "DATABASE_URL", pg),
        database_read_url=_url(env, "DATABASE_READ_URL", pg),
        redis_url=_url(env, "REDIS_URL", ("redis", "rediss", "unix")),
        tz=tz,
        ingest_token=env.get("INGEST_TOKEN") or None,
        host=env.get("CITYSCREEN_HOST", "127.0.0.1"),
        port=_int(env, "CITYSCREEN_PORT", 8050, 1, 65535),
        pg_port=_int(env, "CITYSCREEN_PG_PORT", DEFAULT_PG_PORT, 1024, 65535),
        statement_timeout_ms=_int(env, "CITYSCREEN_STATEMENT_TIMEOUT_MS", 30_000, 0, 86_400_000),
        ingest_max_bytes=_int(env, "CITYSCREEN_INGEST_MAX_BYTES", 20 * 1024 * 1024, 1024, 2**31),
        camera_offline_minutes=_int(env, "CITYSCREEN_CAMERA_OFFLINE_MINUTES", 30, 1, 10_080),
        version_publish_ms=_int(env, "CITYSCREEN_VERSION_PUBLISH_MS", 2000, 0, 3_600_000),
        office_hours=_office_hours(env),
        tile_url=_tile_url(env),
        tile_crs=_tile_crs(env),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
