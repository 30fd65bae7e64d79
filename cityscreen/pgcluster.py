"""A private PostgreSQL + PostGIS cluster under ``$CITYSCREEN_HOME/pg``, from the system binaries.

PostgreSQL refuses to run as root; when we are root the server runs as the ``postgres``
system user (``runuser``) and owns the data directory. If that user cannot reach the
home directory (a ``mktemp -d`` checkout is mode 700), the cluster lives in a directory
under ``/var/tmp`` named after the home directory instead, and a pointer file records it.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cityscreen.settings import Settings

SERVER_USER = "postgres"
DB_NAME = "cityscreen"
_SOCKET_MAX = 100  # unix socket paths are limited to 107 bytes


class ClusterError(RuntimeError):
    """The private cluster cannot be created, started or stopped; the message says why."""


@dataclass(frozen=True)
class ClusterStatus:
    """What ``db status`` reports."""

    data_dir: Path
    initialised: bool
    running: bool
    port: int
    pid: int | None

    def describe(self) -> str:
        if not self.initialised:
            return f"private cluster: not created ({self.data_dir}); run `cityscreen db up`"
        state = f"running (pid {self.pid}) on 127.0.0.1:{self.port}" if self.running else "stopped"
        return f"private cluster: {state}; data in {self.data_dir}"


def bindir() -> Path:
    """Directory of ``initdb`` and ``pg_ctl``: ``pg_config --bindir`` or the newest Debian one."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for path in candidates:
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    raise ClusterError(
        "PostgreSQL server binaries not found; install them: "
        "apt-get install -y postgresql-15 postgresql-15-postgis-3"
    )


def _is_root() -> bool:
    return os.geteuid() == 0


def _reachable_by(user: str, path: Path) -> bool:
    """Whether ``user`` can traverse every directory down to ``path``."""
    info = pwd.getpwnam(user)
    probe = path
    while not probe.exists():
        probe = probe.parent
    for part in [probe, *probe.parents]:
        st = part.stat()
        if st.st_uid == info.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == info.pw_gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return False
    return True


def cluster_dir(settings: Settings) -> Path:
    """Where the cluster lives (see the module docstring for the fallback)."""
    preferred = settings.pg_dir
    pointer = settings.home / "pg.location"
    if pointer.exists():
        return Path(pointer.read_text().strip())
    too_long = len(str(preferred / ".s.PGSQL.65535")) > _SOCKET_MAX
    needs_other_user = _is_root()
    if too_long or (needs_other_user and not _reachable_by(SERVER_USER, preferred)):
        digest = hashlib.sha1(str(settings.home).encode()).hexdigest()[:10]
        return Path("/var/tmp") / f"cityscreen-pg-{digest}"
    return preferred


def _as_server_user(cmd: list[str]) -> list[str]:
    if not _is_root():
        return cmd
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise ClusterError(
            f"running as root needs the '{SERVER_USER}' system user to run PostgreSQL; "
            "install postgresql-15 (it creates the user) or run as a normal user"
        ) from None
    return ["runuser", "-u", SERVER_USER, "--", *cmd]


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(_as_server_user(cmd), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise ClusterError(f"{what} failed: {detail[-1] if detail else f'exit {proc.returncode}'}")
    return proc


def status(settings: Settings) -> ClusterStatus:
    """Report whether the private cluster exists and runs."""
    base = cluster_dir(settings)
    data = base / "data"
    pid_file = data / "postmaster.pid"
    pid = None
    running = False
    if pid_file.exists():
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
            running = True
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            running = False
    return ClusterStatus(base, (data / "PG_VERSION").exists(), running, settings.pg_port, pid)


def _prepare_dir(base: Path, settings: Settings) -> None:
    base.mkdir(parents=True, exist_ok=True)
    if _is_root():
        info = pwd.getpwnam(SERVER_USER)
        os.chown(base, info.pw_uid, info.pw_gid)
    base.chmod(0o700)
    if base != settings.pg_dir:
        settings.home.mkdir(parents=True, exist_ok=True)
        (settings.home / "pg.location").write_text(str(base) + "\n")


def up(settings: Settings) -> ClusterStatus:
    """Create (once) and start the cluster, then make sure database ``cityscreen`` exists."""
    current = status(settings)
    base = current.data_dir
    bins = bindir()
    if not current.initialised:
        _prepare_dir(base, settings)
        _run([str(bins / "initdb"), "-D", str(base / "data"), "-U", "postgres", "--auth=trust",
              "-E", "UTF8", "--locale=C.UTF-8"], "initdb")
    if not current.running:
        opts = (f"-p {settings.pg_port} -k {base} -c listen_addresses=127.0.0.1 "
                "-c max_connections=200 -c shared_buffers=256MB -c fsync=on")
        _run([str(bins / "pg_ctl"), "-D", str(base / "data"), "-l", str(base / "server.log"),
              "-o", opts, "-w", "-t", "60", "start"], "starting PostgreSQL")
    exists = _run([str(bins / "psql"), "-h", str(base), "-p", str(settings.pg_port), "-U",
                   "postgres", "-d", "postgres", "-tAc",
                   f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'"], "checking").stdout
    if exists.strip() != "1":
        _run([str(bins / "createdb"), "-h", str(base), "-p", str(settings.pg_port), "-U",
              "postgres", DB_NAME], "createdb")
    return status(settings)


def down(settings: Settings) -> ClusterStatus:
    """Stop the cluster cleanly (fast shutdown: sessions rolled back, data flushed)."""
    current = status(settings)
    if current.running:
        _run([str(bindir() / "pg_ctl"), "-D", str(current.data_dir / "data"), "-m", "fast",
              "-w", "stop"], "stopping PostgreSQL")
    return status(settings)
