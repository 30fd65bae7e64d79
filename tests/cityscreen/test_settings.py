from pathlib import Path

import pytest

from cityscreen.settings import SettingsError, load_settings


def test_defaults() -> None:
    s = load_settings({})
    assert s.tz.key == "Asia/Shanghai"
    assert s.port == 8050
    assert s.database_url is None and s.uses_private_cluster
    assert s.home == Path(".cityscreen").resolve()
    assert s.office_hours == ((540, 720), (780, 1080))


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"CITYSCREEN_TZ": "Mars/Olympus"}, "CITYSCREEN_TZ"),
        ({"CITYSCREEN_PORT": "eighty"}, "CITYSCREEN_PORT"),
        ({"CITYSCREEN_PORT": "70000"}, "CITYSCREEN_PORT"),
        ({"CITYSCREEN_OFFICE_HOURS": "9-5"}, "CITYSCREEN_OFFICE_HOURS"),
        ({"CITYSCREEN_OFFICE_HOURS": "09:00-12:00,11:00-13:00"}, "CITYSCREEN_OFFICE_HOURS"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        load_settings(env)
