"""Throwaway local PostgreSQL and Redis servers for tests, benchmarks and local development.

``start_postgres()`` and ``start_redis()`` run the Debian system packages' servers on free
127.0.0.1 ports in temporary folders, wait until they answer, and on ``stop()`` (or when the
Python process exits) shut them down and delete their data. ``python -m devtools.services
up|status|down`` runs the same servers persistently in a folder (default ``var/services``).

The module uses the standard library only, so it works before Django or any other project
dependency is importable.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_USER = "tailor"
PG_PASSWORD = "tailor"  # noqa: S105 -- fixed credentials of a local throwaway server
PG_DATABASE = "tailor"
# The OS account that owns the cluster: PostgreSQL refuses to run as root.
PG_OS_USER = "postgres"
# Bootstrap superuser; named explicitly so it does not depend on who ran initdb.
PG_SUPERUSER = "postgres"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# sun_path is 108 bytes; PostgreSQL refuses longer socket paths, which deep pytest tmp_path
# folders can hit.
_MAX_SOCKET_DIR_LEN = 90

DEFAULT_SERVICES_DIR = Path("var/services")
DEFAULT_PG_PORT = 5433  # not 5432, so it never collides with a system cluster
DEFAULT_REDIS_PORT = 6380  # not 6379, for the same reason


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now (another process may still take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_in_use(port: int) -> bool:
    # Checked before starting because a foreign server already on the port would otherwise
    # answer our readiness probe and look like ours.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Both servers set SO_REUSEADDR, so a port held only by TIME_WAIT sockets is usable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _is_root() -> bool:
    return os.geteuid() == 0


# --------------------------------------------------------------------------- PostgreSQL


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in name.split(".") if part.isdigit())


@functools.lru_cache(maxsize=1)
def _pg_bindir() -> Path:
    # Debian's /usr/bin/pg_* are pg_wrapper scripts tied to system clusters, so use the real
    # binaries of the newest installed major version.
    bindirs = [d for d in Path("/usr/lib/postgresql").glob("*/bin") if (d / "pg_ctl").is_file()]
    if bindirs:
        return max(bindirs, key=lambda d: _version_key(d.parent.name))
    found = shutil.which("pg_ctl")
    if found:
        # /usr/local/bin/pg_ctl may be a symlink; its target's folder also holds initdb and psql.
        return Path(found).resolve().parent
    raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")


def _pg_tool(name: str) -> str:
    candidate = _pg_bindir() / name
    if candidate.is_file():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(f"PostgreSQL tool {name!r} not found in {_pg_bindir()} or on PATH")


def _as_pg_user(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", PG_OS_USER, "--", *cmd] if _is_root() else cmd


def _pg_env() -> dict[str, str]:
    # PGHOST, PGPORT, PGDATA etc. from the caller's shell would silently redirect the tools.
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}


def _give_to_pg_user(*paths: Path) -> None:
    if not _is_root():
        return
    try:
        entry = pwd.getpwnam(PG_OS_USER)
    except KeyError:
        raise RuntimeError(f"system user {PG_OS_USER!r} missing; install the postgresql package") from None
    for path in paths:
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _run_pg(
    cmd: list[str], cwd: Path, input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        _as_pg_user(cmd),
        cwd=cwd,  # the postgres user cannot necessarily enter the caller's cwd (e.g. /root)
        env=_pg_env(),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=STARTUP_TIMEOUT + 30,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed with exit code {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


def _read_postmaster_pid(data_dir: Path) -> list[str] | None:
    try:
        return (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None


def _pg_running(data_dir: Path) -> bool:
    if not (data_dir / "PG_VERSION").exists():
        return False
    result = _run_pg([_pg_tool("pg_ctl"), "status", "-D", str(data_dir)], data_dir.parent, check=False)
    return result.returncode == 0


# Idempotent so `up` can be re-run; \gexec because CREATE DATABASE has no IF NOT EXISTS.
_ENSURE_ROLE_AND_DB_SQL = f"""
SELECT 'CREATE ROLE {PG_USER} LOGIN SUPERUSER PASSWORD ''{PG_PASSWORD}'''
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PG_USER}')\\gexec
SELECT 'CREATE DATABASE {PG_DATABASE} OWNER {PG_USER}'
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{PG_DATABASE}')\\gexec
"""  # noqa: S608 -- module constants only, no outside input


@dataclass(eq=False)
class Postgres:
    """A PostgreSQL server run by ``start_postgres()`` (or the CLI) as the ``postgres`` user."""

    port: int
    data_dir: Path
    base_dir: Path  # holds data_dir, the log and normally the socket; deleted by stop()
    socket_dir: Path
    keep: bool = False  # CLI servers keep their data across stop()
    _stopped: bool = field(default=False, repr=False)
    _owner_pid: int = field(default_factory=os.getpid, repr=False)

    @property
    def url(self) -> str:
        return f"postgresql://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{PG_DATABASE}"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    def _boot(self) -> None:
        """Initialise the cluster if needed, start it if not running, ensure role and database."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        _give_to_pg_user(self.base_dir, self.socket_dir)
        self._check_reachable()
        running = _pg_running(self.data_dir)
        if not running and _port_in_use(self.port):
            # Checked before initdb so the error comes in milliseconds, not after a second.
            raise RuntimeError(f"cannot start PostgreSQL: 127.0.0.1:{self.port} is already in use")
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        if running:
            # Re-running `up`: adopt the live server's actual port and socket.
            pid_lines = _read_postmaster_pid(self.data_dir) or []
            if len(pid_lines) >= 5:
                self.port = int(pid_lines[3])
                self.socket_dir = Path(pid_lines[4].split(",")[0].strip())
        else:
            self._start()
        _run_pg(
            [
                _pg_tool("psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                PG_SUPERUSER,
                "-d",
                "postgres",
                "-f",
                "-",
            ],
            self.base_dir,
            input=_ENSURE_ROLE_AND_DB_SQL,
        )

    def _check_reachable(self) -> None:
        # Fails early and clearly where initdb would give a confusing error: typically a base_dir
        # under a root-only (0700) folder such as pytest's tmp_path.
        if not _is_root():
            return
        probe = subprocess.run(
            _as_pg_user(["test", "-w", str(self.base_dir), "-a", "-x", str(self.base_dir)]),
            cwd="/",
            stdin=subprocess.DEVNULL,
            capture_output=True,
        )
        if probe.returncode != 0:
            raise RuntimeError(
                f"PostgreSQL runs as the {PG_OS_USER!r} user, which cannot enter {self.base_dir}: "
                "every parent folder must be enterable by it (pytest's tmp_path is root-only; "
                "use the default system temp folder instead)."
            )

    def _initdb(self) -> None:
        if self.data_dir.exists():
            # Left over from an interrupted initdb, which refuses non-empty folders.
            shutil.rmtree(self.data_dir)
        # C.UTF-8 keeps sorting fast and locale-independent while upper()/lower() still
        # handle non-ASCII text.
        locale = ["--locale=C.UTF-8"] if Path("/usr/lib/locale/C.utf8").exists() else ["--no-locale"]
        _run_pg(
            [
                _pg_tool("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                PG_SUPERUSER,
                "--auth=trust",  # listens on 127.0.0.1 only
                "-E",
                "UTF8",
                *locale,
                "--no-sync",
            ],
            self.base_dir,
        )
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\ninclude 'tailor.conf'\n")

    def _start(self) -> None:
        if len(str(self.socket_dir)) > _MAX_SOCKET_DIR_LEN:
            self.socket_dir = Path(tempfile.mkdtemp(prefix="tailor-pgsock-"))
            _give_to_pg_user(self.socket_dir)

        def quote(value: object) -> str:
            return "'" + str(value).replace("'", "''") + "'"

        # Rewritten on every start so a reused data folder follows the requested port. Durability
        # is off on purpose: the data is disposable and this makes tests much faster.
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": self.port,
            "unix_socket_directories": self.socket_dir,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        conf = self.data_dir / "tailor.conf"
        conf.write_text(
            "# Written by devtools.services on each start.\n"
            + "".join(f"{key} = {quote(value)}\n" for key, value in settings.items())
        )
        _give_to_pg_user(conf)
        # pg_ctl -w waits until the server accepts connections and also notices at once when
        # the postmaster dies (port clash, bad config), so failures do not wait out the timeout.
        result = _run_pg(
            [
                _pg_tool("pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(int(STARTUP_TIMEOUT)),
            ],
            self.base_dir,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"PostgreSQL did not start on port {self.port} within {STARTUP_TIMEOUT:.0f} s "
                f"(pg_ctl: {(result.stdout + result.stderr).strip()}).\n"
                f"Server log tail ({self.log_file}):\n{_tail(self.log_file)}"
            )

    def stop(self) -> None:
        """Stop the server (fast shutdown) and, unless ``keep``, delete its folder."""
        if self._stopped:
            return
        self._stopped = True
        if (self.data_dir / "postmaster.pid").exists():
            pg_ctl = _pg_tool("pg_ctl")
            for mode in ("fast", "immediate"):  # immediate only if fast hangs
                result = _run_pg(
                    [pg_ctl, "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", str(int(STOP_TIMEOUT))],
                    self.base_dir,
                    check=False,
                )
                if result.returncode == 0:
                    break
        if not self.socket_dir.is_relative_to(self.base_dir):
            shutil.rmtree(self.socket_dir, ignore_errors=True)
        if not self.keep:
            shutil.rmtree(self.base_dir, ignore_errors=True)


def _postgres_in(folder: Path, port: int, keep: bool) -> Postgres:
    return Postgres(port=port, data_dir=folder / "data", base_dir=folder, socket_dir=folder / "run", keep=keep)


def start_postgres(base_dir: Path | None = None, port: int | None = None) -> Postgres:
    """Start a throwaway PostgreSQL in a new temporary folder under ``base_dir`` (default: the
    system temp folder), with superuser role and database ``tailor``; stopped at exit."""
    if base_dir is not None:
        Path(base_dir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="tailor-pg-", dir=base_dir)).resolve()
    pg = _postgres_in(folder, port or free_port(), keep=False)
    try:
        pg._boot()
    except BaseException:
        pg.stop()
        raise
    _register(pg)
    return pg


# --------------------------------------------------------------------------- Redis


def _redis_server() -> str:
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).is_file():
        raise RuntimeError("redis-server not found (apt-get install redis-server)")
    return found


def _redis_ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass(eq=False)
class Redis:
    """A redis-server child process run by ``start_redis()`` (or the CLI)."""

    port: int
    process: subprocess.Popen[bytes] | None
    base_dir: Path  # --dir and log; deleted by stop()
    keep: bool = False  # CLI servers keep their folder across stop()
    durable: bool = False  # append-only file fsynced on every write, as production should run
    _stopped: bool = field(default=False, repr=False)
    _owner_pid: int = field(default_factory=os.getpid, repr=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "redis.log"

    @property
    def pid_file(self) -> Path:
        return self.base_dir / "redis.pid"

    def _spawn(self) -> None:
        if _port_in_use(self.port):
            raise RuntimeError(f"cannot start Redis: 127.0.0.1:{self.port} is already in use")
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [
                    _redis_server(),
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "yes" if self.durable else "no",
                    "--appendfsync",
                    "always",
                    "--dir",
                    str(self.base_dir),
                    "--daemonize",
                    "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                # Own session: Ctrl-C or closing the terminal must not kill a CLI-started server,
                # and tests decide themselves when Redis dies.
                start_new_session=True,
            )
        self.pid_file.write_text(f"{self.process.pid}\n")
        (self.base_dir / "redis.port").write_text(f"{self.port}\n")
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _redis_ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self._terminate()
                raise RuntimeError(
                    f"Redis did not answer PING on port {self.port} within {STARTUP_TIMEOUT:.0f} s "
                    f"(exit code {self.process.returncode}).\n"
                    f"Log tail ({self.log_file}):\n{_tail(self.log_file)}"
                )
            time.sleep(0.01)

    def _terminate(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL the server (simulates a crash); ``restart()`` brings it back on the same port."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """Start the server again on the same port (stopping it first if it still runs)."""
        if self._stopped:
            raise RuntimeError("Redis was stopped; use start_redis() for a new one")
        self._terminate()
        self._spawn()

    def stop(self) -> None:
        """Terminate the server (SIGKILL after a timeout) and, unless ``keep``, delete its folder."""
        if self._stopped:
            return
        self._stopped = True
        self._terminate()
        if self.keep:
            self.pid_file.unlink(missing_ok=True)
        else:
            shutil.rmtree(self.base_dir, ignore_errors=True)


def start_redis(base_dir: Path | None = None, port: int | None = None, *, durable: bool = False) -> Redis:
    """Start a throwaway redis-server in a new temporary folder under ``base_dir``
    (default: the system temp folder); stopped at exit. ``durable=True`` keeps an
    append-only file fsynced on every write, so ``kill()`` then ``restart()`` loses nothing."""
    if base_dir is not None:
        Path(base_dir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="tailor-redis-", dir=base_dir)).resolve()
    redis = Redis(port=port or free_port(), process=None, base_dir=folder, durable=durable)
    try:
        redis._spawn()
    except BaseException:
        redis.stop()
        raise
    _register(redis)
    return redis


# --------------------------------------------------------------------------- cleanup at exit

_live: list[Postgres | Redis] = []


def _register(server: Postgres | Redis) -> None:
    _live.append(server)


@atexit.register
def _stop_all() -> None:
    for server in reversed(_live):
        # A forked child inherits this list; only the process that started a server stops it.
        if server._owner_pid != os.getpid():
            continue
        try:
            server.stop()
        except Exception as exc:  # noqa: BLE001 -- one failure must not leave the others running
            print(f"devtools.services: could not stop {server!r}: {exc}", file=sys.stderr)
    _live.clear()


# --------------------------------------------------------------------------- CLI


def _redis_pid_alive(folder: Path) -> int | None:
    """Pid from the CLI's pid file if that process still is a redis-server, else None."""
    try:
        pid = int((folder / "redis.pid").read_text().split()[0])
        # Guards against a stale pid file whose pid now belongs to something else.
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return None
    return pid if b"redis-server" in cmdline else None


def _pid_running(pid: int) -> bool:
    # The CLI's redis is orphaned, so once dead it stays a zombie until init gets round to
    # reaping it; that counts as stopped.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _redis_port(folder: Path) -> int | None:
    try:
        return int((folder / "redis.port").read_text())
    except (OSError, ValueError):
        return None


def _cmd_up(folder: Path, pg_port: int, redis_port: int) -> int:
    pg = _postgres_in(folder / "postgres", pg_port, keep=True)
    pg._boot()
    if pg.port != pg_port:
        print(f"note: PostgreSQL was already running on port {pg.port}", file=sys.stderr)

    redis_dir = folder / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    running_port = _redis_port(redis_dir)
    if _redis_pid_alive(redis_dir) and running_port and _redis_ping(running_port):
        redis = Redis(port=running_port, process=None, base_dir=redis_dir, keep=True)
        if running_port != redis_port:
            print(f"note: Redis was already running on port {running_port}", file=sys.stderr)
    else:
        redis = Redis(port=redis_port, process=None, base_dir=redis_dir, keep=True)
        redis._spawn()
    print(f"export DATABASE_URL={pg.url}")
    print(f"export REDIS_URL={redis.url}")
    return 0


def _cmd_down(folder: Path) -> int:
    pg_dir = folder / "postgres"
    pid_lines = _read_postmaster_pid(pg_dir / "data")
    if pid_lines is not None:
        pg = _postgres_in(pg_dir, int(pid_lines[3]) if len(pid_lines) > 3 else 0, keep=True)
        if len(pid_lines) >= 5:
            pg.socket_dir = Path(pid_lines[4].split(",")[0].strip())
        pg.stop()
        print("postgres: stopped", file=sys.stderr)
    else:
        print("postgres: not running", file=sys.stderr)

    redis_dir = folder / "redis"
    pid = _redis_pid_alive(redis_dir)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _pid_running(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if _pid_running(pid):
            os.kill(pid, signal.SIGKILL)
        print("redis: stopped", file=sys.stderr)
    else:
        print("redis: not running", file=sys.stderr)
    (redis_dir / "redis.pid").unlink(missing_ok=True)
    return 0


def _cmd_status(folder: Path) -> int:
    data_dir = folder / "postgres" / "data"
    pg_up = _pg_running(data_dir)
    if pg_up:
        pid_lines = _read_postmaster_pid(data_dir) or ["?", "", "", "?"]
        print(f"postgres: running on 127.0.0.1:{pid_lines[3]} (pid {pid_lines[0]})")
    else:
        print("postgres: not running")
    redis_dir = folder / "redis"
    pid = _redis_pid_alive(redis_dir)
    port = _redis_port(redis_dir)
    redis_up = bool(pid and port and _redis_ping(port))
    print(f"redis: running on 127.0.0.1:{port} (pid {pid})" if redis_up else "redis: not running")
    return 0 if pg_up and redis_up else 1


def _cmd_run(command: list[str]) -> int:
    """Run a command with throwaway PostgreSQL and Redis, exported as DATABASE_URL and REDIS_URL."""
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("error: give the command to run after --", file=sys.stderr)
        return 2
    # A terminated wrapper must still stop its servers: turn SIGTERM into the normal exit path.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    postgres = start_postgres()
    redis = start_redis()
    try:
        env = {**os.environ, "DATABASE_URL": postgres.url, "REDIS_URL": redis.url}
        return subprocess.run(command, env=env, check=False).returncode
    finally:
        redis.stop()
        postgres.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.services",
        description='Run local PostgreSQL and Redis for development. Use: eval "$(python -m devtools.services up)"',
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start both (reusing existing data) and print export lines")
    up.add_argument("--pg-port", type=int, default=DEFAULT_PG_PORT)
    up.add_argument("--redis-port", type=int, default=DEFAULT_REDIS_PORT)
    sub.add_parser("down", help="stop both, keeping their data")
    sub.add_parser("status", help="show whether each runs (exit code 1 unless both do)")
    for command in sub.choices.values():
        command.add_argument("--dir", type=Path, default=DEFAULT_SERVICES_DIR)
    run = sub.add_parser("run", help="run a command with throwaway servers: run -- CMD ARGS...")
    run.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.command == "run":
        return _cmd_run(args.cmd)

    # Absolute, because the servers run with other working folders than ours.
    folder = args.dir.resolve()
    try:
        if args.command == "up":
            return _cmd_up(folder, args.pg_port, args.redis_port)
        if args.command == "down":
            return _cmd_down(folder)
        return _cmd_status(folder)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
