"""Integration tests for devtools.services: they start real PostgreSQL and Redis servers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib

from devtools import services
from devtools.services import free_port, start_postgres, start_redis

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _process_running(pid: int) -> bool:
    # A stopped server can linger briefly as a zombie until init reaps it; that is not running.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_postgres_accepts_queries_and_stop_cleans_up() -> None:
    # Default base_dir: pytest's tmp_path is root-only, which the postgres user cannot enter.
    pg = start_postgres()
    try:
        postmaster_pid = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
        assert pg.url == f"postgresql://tailor:tailor@127.0.0.1:{pg.port}/tailor"
        with psycopg.connect(pg.url, connect_timeout=5) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            conn.execute("create table item (id serial primary key, name text not null)")
            conn.execute("insert into item (name) values (%s), (%s)", ("a", "é"))
            assert conn.execute("select upper(name) from item order by id").fetchall() == [
                ("A",),
                ("É",),
            ]
            is_superuser = conn.execute("select rolsuper from pg_roles where rolname = current_user")
            assert is_superuser.fetchone() == (True,)
        # Django's test runner needs to create databases.
        with psycopg.connect(pg.url, autocommit=True) as conn:
            conn.execute("create database test_tailor")
            conn.execute("drop database test_tailor")
    finally:
        pg.stop()

    assert not _process_running(postmaster_pid)
    assert not _accepts_connections(pg.port)
    assert not pg.base_dir.exists()
    pg.stop()  # idempotent


def test_postgres_with_deep_base_dir_uses_short_socket_dir() -> None:
    base = Path(tempfile.mkdtemp(prefix="tailor-deep-"))
    deep = base / ("d" * 90)
    try:
        deep.mkdir(mode=0o755)
        base.chmod(0o755)
        pg = start_postgres(deep)
        try:
            assert not pg.socket_dir.is_relative_to(pg.base_dir)
            with psycopg.connect(pg.url, connect_timeout=5) as conn:
                assert conn.execute("select 1").fetchone() == (1,)
        finally:
            pg.stop()
        assert not pg.socket_dir.exists()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_redis_kill_restart_and_stop(tmp_path: Path) -> None:
    server = start_redis(tmp_path)
    try:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        client = redis_lib.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)
        client.set("greeting", "hello")
        assert client.get("greeting") == b"hello"

        first_pid = server.process.pid
        server.kill()
        with pytest.raises(redis_lib.exceptions.ConnectionError):
            client.ping()

        port = server.port
        server.restart()
        assert server.port == port
        assert server.process.pid != first_pid
        assert client.ping()
        assert client.get("greeting") is None  # nothing is persisted across restarts
        client.close()
    finally:
        server.stop()

    assert server.process.poll() is not None
    assert not _process_running(server.process.pid)
    assert not _accepts_connections(server.port)
    assert not server.base_dir.exists()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(RuntimeError, match="already in use"):
            start_redis(tmp_path, port=port)
        with pytest.raises(RuntimeError, match="already in use"):
            start_postgres(port=port)


def test_stop_all_at_exit_stops_servers() -> None:
    pg = start_postgres()
    server = start_redis()
    services._stop_all()  # what atexit runs
    assert not _accepts_connections(pg.port)
    assert not _accepts_connections(server.port)
    assert not pg.base_dir.exists()
    assert not server.base_dir.exists()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtools.services", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_cli_up_status_down() -> None:
    folder = Path(tempfile.mkdtemp(prefix="tailor-cli-"))
    folder.chmod(0o755)  # the postgres user must be able to enter it
    pg_port, redis_port = free_port(), free_port()
    common = ["--dir", str(folder)]
    try:
        up = _cli("up", *common, "--pg-port", str(pg_port), "--redis-port", str(redis_port))
        assert up.returncode == 0, up.stderr
        exports = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines())
        assert exports == {
            "DATABASE_URL": f"postgresql://tailor:tailor@127.0.0.1:{pg_port}/tailor",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        }
        # The servers outlive the CLI process.
        with psycopg.connect(exports["DATABASE_URL"], connect_timeout=5) as conn:
            conn.execute("create table kept (id int)")
        assert redis_lib.Redis.from_url(exports["REDIS_URL"], socket_timeout=2).ping()

        again = _cli("up", *common, "--pg-port", str(pg_port), "--redis-port", str(redis_port))
        assert again.returncode == 0, again.stderr
        assert again.stdout == up.stdout

        status = _cli("status", *common)
        assert status.returncode == 0, status.stdout
        assert f"postgres: running on 127.0.0.1:{pg_port}" in status.stdout
        assert f"redis: running on 127.0.0.1:{redis_port}" in status.stdout

        down = _cli("down", *common)
        assert down.returncode == 0, down.stderr
        assert not _accepts_connections(pg_port)
        assert not _accepts_connections(redis_port)
        status = _cli("status", *common)
        assert status.returncode == 1
        assert "postgres: not running" in status.stdout
        assert "redis: not running" in status.stdout

        # Data survives down/up.
        up = _cli("up", *common, "--pg-port", str(pg_port), "--redis-port", str(redis_port))
        assert up.returncode == 0, up.stderr
        with psycopg.connect(exports["DATABASE_URL"], connect_timeout=5) as conn:
            assert conn.execute("select count(*) from kept").fetchone() == (0,)
    finally:
        _cli("down", *common)
        shutil.rmtree(folder, ignore_errors=True)
