"""Background ``wavestream`` processes tracked by pid files (``make demo``, benchmarks).

Each process runs ``python -m wavestream.cli ARGS`` in its own session with its output in
``<log_dir>/<name>.log`` and its pid in ``<run_dir>/<name>.pid`` (second line: its
command line as JSON, so a later run can tell our process from one that got its pid
recycled). :meth:`Supervisor.stop_all` stops exactly those processes (SIGTERM, then
SIGKILL after a grace period) and removes the files, so nothing the caller started is
left running; :meth:`Supervisor.clean_leftovers` does the same for what a killed earlier
run left behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, Mapping

from wavestream.exceptions import WavestreamError
from wavestream.stack.process import pid_alive, read_pid, stop_pid, tail

log = logging.getLogger(__name__)

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ProcessDied(WavestreamError):
    """A supervised process exited while it was expected to run."""


class Supervisor:
    def __init__(self, run_dir: Path, log_dir: Path, env: Mapping[str, str]) -> None:
        self.run_dir = run_dir
        self.log_dir = log_dir
        self._env = dict(env)
        self._procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str]) -> int:
        """Start ``wavestream ARGS`` as ``name``; returns its pid.

        SIGINT/SIGTERM arriving while the process is being started take effect right
        after it is recorded, so an interrupted caller's :meth:`stop_all` finds it.

        Raises:
            WavestreamError: a process of that name from an earlier run still runs.
        """
        pid_file = self.run_dir / f"{name}.pid"
        if read_pid(pid_file) is not None:
            raise WavestreamError(f"{name} is already running (pid file {pid_file}); stop it first")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "wavestream.cli", *args]
        with _signals_deferred(), (self.log_dir / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=self._env, start_new_session=True)
            self._procs[name] = proc
            pid_file.write_text(f"{proc.pid}\n{json.dumps(argv)}\n")
        log.info("started %s (pid %d): wavestream %s", name, proc.pid, " ".join(args))
        return proc.pid

    def check(self) -> None:
        """Raises: ProcessDied naming the first process that exited, and its log."""
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                log_file = self.log_dir / f"{name}.log"
                raise ProcessDied(f"{name} exited with status {proc.returncode}; see {log_file}: {tail(log_file, 3)}")

    def stop_all(self, timeout_s: float = 30.0) -> list[str]:
        """Stop every process this supervisor started, and any other process a pid file
        of ``run_dir`` names that is really ours (its command line matches); remove the
        pid files. All get SIGTERM at once, then each is waited for (SIGKILL after
        ``timeout_s``). Returns the names of the processes stopped."""
        targets = {name: proc.pid for name, proc in self._procs.items() if proc.poll() is None}
        for pid_file in sorted(self.run_dir.glob("*.pid")):
            pid = read_pid(pid_file)
            if pid is not None and pid_file.stem not in targets and _is_ours(pid, pid_file):
                targets[pid_file.stem] = pid
        for pid in targets.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in targets.values():
            stop_pid(pid, timeout_s=timeout_s)
        for proc in self._procs.values():
            proc.poll()  # reap
        self._procs.clear()
        for pid_file in self.run_dir.glob("*.pid"):
            pid_file.unlink(missing_ok=True)
        return sorted(targets)

    def clean_leftovers(self, timeout_s: float = 30.0) -> tuple[list[str], list[str]]:
        """Clean up after an earlier run that was killed before it could: stop the live
        processes its pid files name that are really ours (command line checked, so a
        recycled pid is never signalled) and remove every pid file.

        Returns:
            (names of the processes stopped, names of the stale pid files removed).
        """
        stopped, stale = [], []
        for pid_file in sorted(self.run_dir.glob("*.pid")):
            pid = read_pid(pid_file)
            if pid is not None and _is_ours(pid, pid_file):
                stop_pid(pid, timeout_s=timeout_s)
                stopped.append(pid_file.stem)
            else:
                if pid is not None:
                    log.warning("pid file %s names pid %d, which is not a process it started: left alone",
                                pid_file, pid)
                stale.append(pid_file.stem)
            pid_file.unlink(missing_ok=True)
        return stopped, stale

    def running(self) -> list[str]:
        return [f.stem for f in sorted(self.run_dir.glob("*.pid")) if read_pid(f) is not None]


def _is_ours(pid: int, pid_file: Path) -> bool:
    """True when ``pid`` runs the command line recorded in ``pid_file`` (a pid file
    without one: any ``wavestream.cli`` command). False when that cannot be read."""
    try:
        lines = pid_file.read_text().splitlines()
        cmdline = [part.decode(errors="replace")
                   for part in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]]
    except OSError:
        return False
    if not pid_alive(pid):
        return False
    if len(lines) > 1:
        try:
            return cmdline == json.loads(lines[1])
        except ValueError:
            return False
    return cmdline[1:3] == ["-m", "wavestream.cli"]


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM back while the block runs; deliver them after. Only the main
    thread can change handlers: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: pending.append(signum)) for sig in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
        for sig in dict.fromkeys(pending):
            signal.raise_signal(sig)
