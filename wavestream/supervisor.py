"""Background ``wavestream`` processes tracked by pid files (``make demo``, benchmarks).

Each process runs ``python -m wavestream.cli ARGS`` in its own session with its output in
``<log_dir>/<name>.log`` and its pid in ``<run_dir>/<name>.pid``; :meth:`Supervisor.stop_all`
stops exactly those pids (SIGTERM, then SIGKILL after a grace period) and removes the files,
so nothing the caller started is left running.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Mapping

from wavestream.exceptions import WavestreamError
from wavestream.stack.process import read_pid, stop_pid, tail, write_pid

log = logging.getLogger(__name__)


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

        Raises:
            WavestreamError: a process of that name from an earlier run still runs.
        """
        pid_file = self.run_dir / f"{name}.pid"
        if read_pid(pid_file) is not None:
            raise WavestreamError(f"{name} is already running (pid file {pid_file}); stop it first")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "wavestream.cli", *args],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self._env, start_new_session=True,
            )
        self._procs[name] = proc
        write_pid(pid_file, proc.pid)
        log.info("started %s (pid %d): wavestream %s", name, proc.pid, " ".join(args))
        return proc.pid

    def check(self) -> None:
        """Raises: ProcessDied naming the first process that exited, and its log."""
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                log_file = self.log_dir / f"{name}.log"
                raise ProcessDied(f"{name} exited with status {proc.returncode}; see {log_file}: {tail(log_file, 3)}")

    def stop_all(self, timeout_s: float = 30.0) -> list[str]:
        """Stop every process this supervisor (or an earlier run with the same run_dir)
        recorded; returns their names."""
        stopped = []
        for pid_file in sorted(self.run_dir.glob("*.pid")):
            pid = read_pid(pid_file)
            if pid is not None:
                stop_pid(pid, timeout_s=timeout_s)
                stopped.append(pid_file.stem)
            pid_file.unlink(missing_ok=True)
        for proc in self._procs.values():
            proc.poll()  # reap
        self._procs.clear()
        return stopped

    def running(self) -> list[str]:
        return [f.stem for f in sorted(self.run_dir.glob("*.pid")) if read_pid(f) is not None]
