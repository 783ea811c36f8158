"""Databases for the store's integration tests: a SQLite file, and a real PostgreSQL server started for
the test session on loopback (127.0.0.1, random port, unix socket in its temp dir).

A missing PostgreSQL installation FAILS the tests instead of skipping them: CI must never go green
because a database quietly was not there.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import psycopg
import pytest
from sqlalchemy.engine import Engine

from loadtest_operator.io.store import create_store_engine

PG_BINDIR_ENV = "LLMLOAD_PG_BINDIR"
DEBIAN_PG_ROOT = Path("/usr/lib/postgresql")
SUPERUSER = "postgres"
# Durability is not under test; these make the throwaway server start and write faster.
FAST_UNSAFE_SETTINGS = "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    socket_dir: Path

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def admin_connection(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=self.host, port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        )


def find_pg_bindir(env: Mapping[str, str] = os.environ, debian_root: Path = DEBIAN_PG_ROOT) -> Path:
    """The directory holding initdb and pg_ctl: $LLMLOAD_PG_BINDIR, else the newest Debian install
    (/usr/lib/postgresql/<version>/bin, outside PATH), else PATH. Fails the tests when there is none."""
    candidates = [Path(env[PG_BINDIR_ENV])] if env.get(PG_BINDIR_ENV) else []
    versions = [p for p in debian_root.glob("*/bin") if p.parent.name.isdigit()]
    candidates += sorted(versions, key=lambda p: int(p.parent.name), reverse=True)
    on_path = shutil.which("pg_ctl", path=env.get("PATH", ""))
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    pytest.fail(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; the store's PostgreSQL tests need them. "
        f"Install them (Debian: apt-get install postgresql) or set {PG_BINDIR_ENV}=<dir with initdb>.",
        pytrace=False,
    )


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root; drop to the postgres user when we are root."""
    return ["runuser", "-u", SUPERUSER, "--"] if os.geteuid() == 0 else []


def _run(command: list[str], what: str, log: Path | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    if result.returncode != 0:
        details = result.stdout + result.stderr
        if log is not None and log.exists():
            details += "\n--- server log ---\n" + log.read_text(errors="replace")
        pytest.fail(f"{what} failed ({result.returncode}): {' '.join(command)}\n{details}", pytrace=False)


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # CI runners stop a job with SIGTERM; as KeyboardInterrupt, pytest still runs fixture teardown, so
    # the server is stopped instead of outliving the test run.
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_pg_bindir()
    previous_handler = signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
    # Not under pytest's tmp_path: that lives in a root-only directory the postgres user cannot enter.
    root = Path(tempfile.mkdtemp(prefix="llmload-pg-"))
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, user=SUPERUSER)
        shutil.chown(sockets, user=SUPERUSER)
    as_user = _as_server_user()
    pg_ctl = [*as_user, str(bindir / "pg_ctl"), "-D", str(data)]
    try:
        _run(
            [
                *as_user,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )
        port = free_loopback_port()
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} {FAST_UNSAFE_SETTINGS}"
        _run([*pg_ctl, "-l", str(log), "-w", "-t", "60", "-o", options, "start"], "pg_ctl start", log)
        yield PostgresServer(host="127.0.0.1", port=port, socket_dir=sockets)
    finally:
        # Also after a failed or timed-out start: a half-started server must not outlive the tests.
        if (data / "postmaster.pid").exists():
            subprocess.run(
                [*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True, check=False, timeout=60
            )
        shutil.rmtree(root, ignore_errors=True)
        signal.signal(signal.SIGTERM, previous_handler)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped afterwards."""
    name = f"llmload_test_{uuid.uuid4().hex[:12]}"
    with postgres_server.admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.url(name)
    finally:
        with postgres_server.admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """An engine on a new SQLite file, in a directory that does not exist yet."""
    store_engine = create_store_engine(str(tmp_path / "history" / "llmload.db"))
    try:
        yield store_engine
    finally:
        store_engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database, once per supported backend."""
    if request.param == "sqlite":
        url = str(tmp_path / "history" / "llmload.db")
    else:
        url = request.getfixturevalue("postgres_url")
    store_engine = create_store_engine(url)
    try:
        yield store_engine
    finally:
        store_engine.dispose()
