"""A throwaway PostgreSQL server for the tests and the benchmarks (issue 16): ``initdb`` into a
temporary directory, ``pg_ctl`` on a free 127.0.0.1 port, stopped by its pid at the end.

The tests start one per session (``tests/conftest.py``) and `runtime.bench` one per run. Each user
gets fresh databases copied from a template that the store's own migrations built once
(``CREATE DATABASE ... TEMPLATE``), so the migrations run on PostgreSQL and a fresh database costs
a file copy, not a migration run. ``initdb`` refuses to run as root, so as root the server runs as
the ``postgres`` user Debian's package creates (or ``nobody``). Durability is off (``fsync``,
``synchronous_commit``, ``full_page_writes``): the server dies with its user, and the benchmark
figures on it say so. The superuser has a password and host connections ask for it
(``scram-sha-256``), so tests and benchmarks go through the same authentication a deployment does.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from runtime.store.database import Database
from runtime.store.locations import PostgresLocation

USER = "orch"
PASSWORD = "test-only-secret-7f3a"
TEMPLATE = "orch_template"
#: Why a PostgreSQL test or benchmark does not run: only when the server's binaries are not installed.
NO_POSTGRES = ("PostgreSQL binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or on PATH: "
               "apt-get install postgresql (.ci/run does)")
#: Bounds every wait on the server (start, stop); a loaded 2-core machine only makes it slower.
WAIT_S = 60.0


def postgres_bin_dir() -> Path | None:
    """Where ``initdb``/``pg_ctl`` are: Debian's ``/usr/lib/postgresql/<version>/bin`` (newest), else PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]), reverse=True)
    if found:
        return found[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_user() -> str | None:
    """The user the server runs as when we are root (initdb refuses root); None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists for initdb")


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    run_as: str | None
    pid: int | None = None
    _names: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str, *, password: bool = True) -> str:
        secret = f":{PASSWORD}" if password else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    def location(self, database: str) -> PostgresLocation:
        return PostgresLocation.parse(self.url(database))

    def _as_server_user(self, *argv: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *argv] if self.run_as else list(argv)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        password_file = self.root / "pwfile"
        password_file.write_text(PASSWORD + "\n", encoding="utf-8")
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            for path in (self.root, password_file):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        subprocess.run(self._as_server_user(
            str(self.bin_dir / "initdb"), "-D", str(self.data_dir), "-U", USER, f"--pwfile={password_file}",
            "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-sync", "--no-instructions"),
            check=True, capture_output=True, timeout=WAIT_S)
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.data_dir} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        started = subprocess.run(self._as_server_user(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-w",
            "-t", str(int(WAIT_S)), "-o", options, "start"), capture_output=True, text=True, timeout=WAIT_S + 5)
        if started.returncode != 0:
            log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            raise RuntimeError(f"pg_ctl start failed ({started.returncode}): {started.stderr.strip()}\n{log[-2000:]}")
        self.pid = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        self.sql(f"CREATE DATABASE {TEMPLATE}")
        asyncio.run(_migrate(self.location(TEMPLATE)))

    def sql(self, *statements: str, database: str = "postgres") -> str:
        """Run statements with ``psql``, each on its own (synchronous: works inside a running event loop too)."""
        commands = [arg for statement in statements for arg in ("-c", statement)]
        done = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", USER, "-d", database, *commands],
            capture_output=True, text=True, timeout=WAIT_S, env={**os.environ, "PGPASSWORD": PASSWORD})
        if done.returncode != 0:
            raise RuntimeError(f"psql {statements!r} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, *, migrated: bool = True) -> str:
        """A fresh database, migrated (a copy of the template) or empty; its name."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE if migrated else 'template0'}")
        return name

    def drop_databases(self, names: list[str]) -> None:
        if names:
            self.sql(*(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for name in names))

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster, by pid); SIGKILL if it outlives `WAIT_S`."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGINT)
                deadline = time.monotonic() + WAIT_S
                while _alive(self.pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if _alive(self.pid):
                    os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        shutil.rmtree(self.root, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie answers signal 0 too: look at its state.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    return True


async def _migrate(location: PostgresLocation) -> None:
    db = Database.at(location)
    await db.open()
    await db.close()


def start_postgres_server() -> PostgresServer | None:
    """A running server, or None when PostgreSQL's binaries are not installed."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        return None
    # Not pytest's tmp dirs: those are private to root, and the server may run as another user.
    server = PostgresServer(bin_dir, Path(tempfile.mkdtemp(prefix="orch-pg-")), _free_port(), _server_user())
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
