"""Helpers of the broker-loss tests (no tests here): ports for a three-node stack, the
CLI, pipeline subprocesses with probe ports and a liveness supervisor, a steady feeder."""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.integration.test_worker_helpers import CODEC, ROOT, Procs, posting
from wavestream.clients import build_producer
from wavestream.config import KafkaSettings
from wavestream.stack.process import free_port, port_in_use
from wavestream.topics import POSTINGS

WAVESTREAM = [sys.executable, "-m", "wavestream.cli"]


def _ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (32768 when it cannot be read)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def port_block(size: int = 6) -> int:
    """A base port with ``size`` consecutive free ports (three nodes x client+controller),
    below the kernel's ephemeral range: a port from that range (what ``free_port`` gives)
    can be taken by any outgoing connection between this check and the brokers binding it
    seconds later, and a node that cannot bind exits."""
    rng = random.Random()
    high = max(_ephemeral_start(), 20000 + 2 * size)
    for _ in range(200):
        base = rng.randrange(20000, high - size)
        if not any(port_in_use("127.0.0.1", base + i) for i in range(size)):
            return base
    raise AssertionError("no block of free ports")


def cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*WAVESTREAM, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


class StackProcs(Procs):
    """Procs whose commands also get the stack's PostgreSQL DSN (for the projector)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        super().__init__(env["WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS"], log_dir)
        self.env = env
        self.ports: dict[str, int] = {}
        self.args: dict[str, tuple[str, ...]] = {}
        self.restarts: list[str] = []
        self._lock = threading.Lock()

    def start(self, name: str, *args: str) -> subprocess.Popen:
        """Start ``wavestream ARGS`` with its metrics/probe server on a free port."""
        self.ports[name], self.args[name] = free_port(), args
        env = {**self.env, "WAVESTREAM_METRICS_PORT": str(self.ports[name]), "PYTHONFAULTHANDLER": "1"}
        with open(self.log_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen([*WAVESTREAM, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def dump_stacks(self) -> str:
        """SIGABRT every live process (PYTHONFAULTHANDLER writes its Python stack to its
        log) and return the stacks: where a stuck process waits."""
        with self._lock:
            return self._dump_stacks()

    def _dump_stacks(self) -> str:
        live = [n for n, p in self.procs.items() if p.poll() is None]
        native = {}
        if shutil.which("gdb"):  # where inside librdkafka a stuck call waits
            for name in live:
                native[name] = subprocess.run(
                    ["gdb", "-p", str(self.procs[name].pid), "-batch", "-ex", "thread apply all bt 12"],
                    capture_output=True, text=True, timeout=120).stdout
                (self.log_dir / f"{name}.gdb.txt").write_text(native[name])
        for name in live:
            self.procs[name].send_signal(signal.SIGABRT)
            self.stopped.add(name)
        for name in live:
            self.procs[name].wait(30)
        return "\n".join(f"--- {n} (native stacks in {self.log_dir}/{n}.gdb.txt):\n"
                         + self.log(n).rpartition("Fatal Python error")[2][:1500] for n in live)

    def supervise(self) -> None:
        """What a deployment's supervisor does (Kubernetes: livenessProbe on /healthz,
        restartPolicy Always): a process whose /healthz answers 503 is aborted (its
        Python stack goes to its log), and it or a process that exited is started again
        with the same arguments, so the same transactional.id fences whatever it left
        open. Each restart is recorded in :attr:`restarts` with its reason."""
        with self._lock:
            for name in list(self.procs):
                if name in self.stopped:
                    continue
                proc = self.procs[name]
                if proc.poll() is not None:
                    reason = f"exit {proc.returncode}"
                else:
                    answer = self.probe(name, "/healthz")
                    if answer is None or answer[0] != 503:
                        continue
                    reason = "hung: " + answer[1].strip()
                    proc.send_signal(signal.SIGABRT)
                    proc.wait(30)
                self.restarts.append(f"{name} ({reason})")
                self.start(name, *self.args[name])

    def assert_alive(self) -> None:
        """Processes are supervised here: restart what died or hung instead of failing."""
        self.supervise()

    def probe(self, name: str, path: str) -> tuple[int, str] | None:
        """(HTTP status, body) of ``path`` on the process's metrics port; None while it
        does not listen yet."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.ports[name]}{path}", timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return None


class Supervisor(threading.Thread):
    """Runs :meth:`StackProcs.supervise` every two seconds until stopped."""

    def __init__(self, procs: StackProcs) -> None:
        super().__init__(daemon=True)
        self.procs, self.done = procs, threading.Event()

    def run(self) -> None:
        while not self.done.wait(2.0):
            self.procs.supervise()

    def stop(self) -> None:
        self.done.set()
        self.join(60)


class Feeder(threading.Thread):
    """Produces postings at a steady rate (so they are in flight across a broker loss)."""

    def __init__(self, settings: KafkaSettings, ids: list[str], per_s: float) -> None:
        super().__init__(daemon=True)
        self.settings, self.ids, self.per_s = settings, ids, per_s
        self.undelivered = -1

    def run(self) -> None:
        producer = build_producer(self.settings)
        for i, pid in enumerate(self.ids):
            producer.produce(POSTINGS, key=pid, value=CODEC.encode("Posting", posting(pid)))
            producer.poll(0)
            time.sleep(1 / self.per_s)
        self.undelivered = producer.flush(120)
