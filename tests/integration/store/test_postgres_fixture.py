"""The PostgreSQL fixture itself: it must find the server binaries or fail loudly, never skip."""

from pathlib import Path

import pytest

from tests.integration.store.conftest import PG_BINDIR_ENV, PostgresServer, find_pg_bindir

pytestmark = pytest.mark.integration


def fake_bindir(root: Path) -> Path:
    root.mkdir(parents=True)
    for name in ("initdb", "pg_ctl"):
        (root / name).write_text("#!/bin/sh\n")
        (root / name).chmod(0o755)
    return root


def test_missing_binaries_fail_instead_of_skipping(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="apt-get install postgresql"):
        find_pg_bindir(env={"PATH": str(tmp_path)}, debian_root=tmp_path / "none")


def test_explicit_bindir_wins(tmp_path: Path) -> None:
    explicit = fake_bindir(tmp_path / "custom")
    fake_bindir(tmp_path / "debian" / "16" / "bin")
    assert find_pg_bindir(env={PG_BINDIR_ENV: str(explicit)}, debian_root=tmp_path / "debian") == explicit


def test_newest_debian_version_wins(tmp_path: Path) -> None:
    for version in ("9", "15", "13"):
        fake_bindir(tmp_path / version / "bin")
    assert find_pg_bindir(env={}, debian_root=tmp_path) == tmp_path / "15" / "bin"


def test_path_is_the_last_resort(tmp_path: Path) -> None:
    on_path = fake_bindir(tmp_path / "usr-bin")
    assert find_pg_bindir(env={"PATH": str(on_path)}, debian_root=tmp_path / "none") == on_path


def test_server_listens_on_loopback_only(postgres_server: PostgresServer) -> None:
    with postgres_server.admin_connection() as connection:
        row = connection.execute("SHOW listen_addresses").fetchone()
    assert row == ("127.0.0.1",)
    assert (postgres_server.socket_dir / f".s.PGSQL.{postgres_server.port}").exists()
