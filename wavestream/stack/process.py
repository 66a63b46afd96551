"""Process plumbing shared by the embedded services: ports, pid files, health waits."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import time
from pathlib import Path
from typing import Callable

from wavestream.stack.exceptions import MissingTool, PortInUse, StackError


def port_in_use(host: str, port: int) -> bool:
    """True when something accepts connections on ``host:port`` or holds it bound.

    Other bind errors (unknown host, address not local) count as free: the service's
    own start then fails and its log says what is wrong.
    """
    with socket.socket() as accept_probe, socket.socket() as bind_probe:
        accept_probe.settimeout(0.5)
        # Bind with SO_REUSEADDR as Kafka and PostgreSQL do: a plain bind also fails on
        # the TIME_WAIT leftovers of our own previous server right after it stopped.
        bind_probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            if accept_probe.connect_ex((host, port)) == 0:
                return True
            bind_probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def port_answers(host: str, port: int) -> bool:
    """True when something accepts a TCP connection on ``host:port`` right now."""
    with socket.socket() as probe:
        probe.settimeout(0.5)
        try:
            return probe.connect_ex((host, port)) == 0
        except OSError:
            return False


def ensure_port_free(host: str, port: int, service: str) -> None:
    """Raises:
    PortInUse: the port is taken, naming the port and the service that needed it.
    """
    if port_in_use(host, port):
        raise PortInUse(f"{service} port {host}:{port} is already in use by another process")


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free right now (for tests and ephemeral stacks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def require_tool(name: str, hint: str) -> str:
    """The absolute path of ``name`` on PATH.

    Raises:
        MissingTool: not on PATH; the message carries ``hint``.
    """
    path = shutil.which(name)
    if not path:
        raise MissingTool(f"'{name}' not found on PATH: {hint}")
    return path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); treat it as gone.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True


def read_pid(pid_file: Path) -> int | None:
    """The pid stored in ``pid_file`` if that process is still alive, else None."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def write_pid(pid_file: Path, pid: int) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{pid}\n")


def stop_pid(pid: int, timeout_s: float = 30.0, sig: int = signal.SIGTERM) -> None:
    """Send ``sig`` to ``pid`` and wait; SIGKILL it if it outlives ``timeout_s``."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            _reap(pid)
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while pid_alive(pid):
        time.sleep(0.05)
    _reap(pid)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def tail(path: Path, lines: int = 5) -> str:
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip() for line in content[-lines:] if line.strip())


def wait_until(
    check: Callable[[], bool],
    *,
    timeout_s: float,
    what: str,
    log_file: Path,
    alive: Callable[[], bool] | None = None,
    interval_s: float = 0.25,
) -> None:
    """Poll ``check`` until it returns True.

    Raises:
        StackError: the timeout passed, or ``alive`` reported the process died; the
            message names ``what``, the log file and its last lines.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and not alive():
            raise StackError(f"{what} exited during startup; see {log_file}: {tail(log_file)}")
        time.sleep(interval_s)
    raise StackError(f"{what} not ready after {timeout_s:.0f}s; see {log_file}: {tail(log_file)}")
