"""Session-scoped Kafka and PostgreSQL for integration tests.

Each service resolves in the order of DESIGN §8:
1. the environment (``WAVESTREAM_TEST_KAFKA_BOOTSTRAP_SERVERS`` / ``WAVESTREAM_TEST_PG_DSN``),
2. testcontainers, when a Docker engine answers,
3. the native embedded stack (``wavestream.stack``) on free loopback ports in a temp dir.
Whatever a fixture starts it stops in ``finally``. The services used are named at the
end of the run (``pytest_terminal_summary``).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest

from wavestream.config import KafkaSettings, StackSettings

log = logging.getLogger("wavestream.tests")

#: What each fixture used, reported at the end of the session.
SERVICES: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: D103 - pytest hook
    if SERVICES:
        terminalreporter.section("wavestream services")
        for name, text in SERVICES.items():
            terminalreporter.write_line(f"{name}: {text}")


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - any failure means "no engine to use"
        return False


def _native_settings(tmp_root: Path) -> StackSettings:
    from wavestream.stack.process import free_port

    base = StackSettings.from_env({k: v for k, v in os.environ.items() if not k.startswith("WAVESTREAM_STACK_")})
    return replace(
        base,
        data_dir=tmp_root,
        kafka_port=free_port(),
        controller_port=free_port(),
        pg_port=free_port(),
    )


def traversable_tmp(name: str) -> Path:
    """A new temp dir the embedded PostgreSQL's service user can reach. When tests run
    as root, PostgreSQL runs as an unprivileged user; pytest's own temp root is 0700 and
    is reset by every pytest session that starts, so it cannot be used. The caller
    removes the dir (``shutil.rmtree``)."""
    root = Path(tempfile.mkdtemp(prefix=f"wavestream-{name}-"))
    os.chmod(root, 0o711)
    return root


@pytest.fixture(scope="session")
def stack_root() -> Iterator[Path]:
    root = traversable_tmp("stack")
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka_bootstrap(stack_root: Path) -> Iterator[str]:
    """Bootstrap servers of a real Kafka broker for the whole session."""
    env = os.environ.get("WAVESTREAM_TEST_KAFKA_BOOTSTRAP_SERVERS")
    if env:
        SERVICES["kafka"] = f"from the environment at {env}"
        yield env
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        container = KafkaContainer("apache/kafka:4.1.1").with_kraft()
        container.start()
        try:
            SERVICES["kafka"] = "apache/kafka:4.1.1 (testcontainers)"
            yield container.get_bootstrap_server()
        finally:
            container.stop()
        return
    from wavestream.stack.kafka import EmbeddedKafka

    kafka = EmbeddedKafka(_native_settings(stack_root / "kafka-stack"))
    t0 = time.monotonic()
    kafka.start()
    try:
        SERVICES["kafka"] = (
            f"Apache Kafka {kafka.version()} (native KRaft, started in {time.monotonic() - t0:.1f}s) "
            f"at {kafka.bootstrap_servers}"
        )
        yield kafka.bootstrap_servers
    finally:
        kafka.stop()


@pytest.fixture(scope="session")
def pg_dsn(stack_root: Path) -> Iterator[str]:
    """DSN of a real PostgreSQL server (superuser) for the whole session."""
    env = os.environ.get("WAVESTREAM_TEST_PG_DSN")
    if env:
        SERVICES["postgres"] = "from the environment"
        yield env
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:16", driver=None)
        container.start()
        try:
            SERVICES["postgres"] = "postgres:16 (testcontainers)"
            yield container.get_connection_url()
        finally:
            container.stop()
        return
    from wavestream.stack.postgres import EmbeddedPostgres

    postgres = EmbeddedPostgres(_native_settings(stack_root / "pg-stack"))
    t0 = time.monotonic()
    dsn = postgres.start()
    try:
        SERVICES["postgres"] = (
            f"PostgreSQL {postgres.version()} (native, started in {time.monotonic() - t0:.1f}s)"
        )
        yield dsn
    finally:
        postgres.stop()


@pytest.fixture(scope="session")
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(client={"bootstrap.servers": kafka_bootstrap}, partitions=3)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic, group and database names of one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
def fresh_db(pg_dsn: str, unique: str) -> Iterator[str]:
    """DSN of a new, empty database for one test; dropped afterwards."""
    import psycopg2
    from psycopg2 import sql
    from psycopg2.extensions import make_dsn

    name = f"t_{unique}"
    admin = psycopg2.connect(pg_dsn)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield make_dsn(pg_dsn, dbname=name)
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    finally:
        admin.close()
