"""The CLI as people meet it: subprocesses, real servers, one-line errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import free_port

CLI = [sys.executable, "-m", "cityscreen"]


def run(args: list[str], env: dict[str, str] | None = None, timeout: int = 120):
    full = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    full.update(env or {})
    return subprocess.run(CLI + args, capture_output=True, text=True, env=full, timeout=timeout)


def test_every_command_has_help() -> None:
    from click import Group
    from click.testing import CliRunner

    from cityscreen.cli import main

    def walk(group: Group, prefix: list[str]):
        for name, cmd in group.commands.items():
            yield [*prefix, name]
            if isinstance(cmd, Group):
                yield from walk(cmd, [*prefix, name])

    paths = list(walk(main, []))
    assert ["db", "up"] in paths and ["db", "psql"] in paths
    runner = CliRunner()
    for path in paths:  # in-process: one interpreter start instead of one per command
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
        assert len(result.output.splitlines()) > 3, path  # says something beyond the usage line


def test_help_runs_as_a_program() -> None:
    result = run(["--help"], timeout=60)
    assert result.returncode == 0 and "cityscreen" in result.stdout


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("mysql://localhost/x", "DATABASE_URL must start with postgresql://"),
        ("postgresql://nobody@127.0.0.1:1/nothing", "cannot connect to nobody@127.0.0.1:1/nothing"),
    ],
)
def test_bad_database_url_is_one_line(url: str, needle: str) -> None:
    result = run(["db", "migrate"], env={"DATABASE_URL": url})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]
    assert "Traceback" not in result.stderr


def test_private_cluster_lifecycle(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"CITYSCREEN_HOME": str(home), "CITYSCREEN_PG_PORT": str(free_port())}
    try:
        st = run(["db", "status"], env)
        assert "not created" in st.stdout and st.returncode == 1

        up = run(["db", "up"], env)
        assert up.returncode == 0, up.stderr
        assert "running" in up.stdout and "applied" in up.stdout

        again = run(["db", "up"], env)  # idempotent
        assert again.returncode == 0, again.stderr
        assert "schema up to date" in again.stdout

        st = run(["db", "status"], env)
        assert st.returncode == 0 and "PostGIS 3" in st.stdout and "running" in st.stdout

        down = run(["db", "down"], env)
        assert down.returncode == 0 and "stopped" in down.stdout
        st = run(["db", "status"], env)
        assert "stopped" in st.stdout and st.returncode == 1
    finally:
        run(["db", "down"], env)
        pointer = home / "pg.location"
        if pointer.exists():  # root in a private tmp dir: the cluster lived under /var/tmp
            shutil.rmtree(pointer.read_text().strip(), ignore_errors=True)
