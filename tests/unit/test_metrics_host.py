"""/metrics listens on loopback unless WAVESTREAM_METRICS_HOST says otherwise, for the
workers' endpoint and the projector's (the listening socket is read from /proc/net)."""

from __future__ import annotations

from pathlib import Path

import pytest

from projector.metrics import ProjectorMetrics
from wavestream import metrics
from wavestream.stack.process import free_port

pytestmark = pytest.mark.unit

_LISTEN = "0A"


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as /proc/net/tcp writes them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == _LISTEN:
                found.add(address)
    return found


def test_metrics_host_defaults_to_loopback():
    assert metrics.metrics_host({}) == "127.0.0.1"
    assert metrics.metrics_host({"WAVESTREAM_METRICS_HOST": ""}) == "127.0.0.1"
    assert metrics.metrics_host({"WAVESTREAM_METRICS_HOST": "0.0.0.0"}) == "0.0.0.0"


def test_worker_endpoint_listens_on_loopback_by_default(monkeypatch):
    monkeypatch.delenv("WAVESTREAM_METRICS_HOST", raising=False)
    port = metrics.serve(0)
    assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, not 00000000 (every interface)


def test_worker_endpoint_follows_the_setting(monkeypatch):
    monkeypatch.setenv("WAVESTREAM_METRICS_HOST", "0.0.0.0")
    port = metrics.serve(0)
    assert listening_addresses(port) == {"00000000"}


def test_projector_endpoint_listens_on_loopback_by_default(monkeypatch):
    monkeypatch.delenv("WAVESTREAM_METRICS_HOST", raising=False)
    port = free_port()
    ProjectorMetrics().serve(port)
    assert listening_addresses(port) == {"0100007F"}
