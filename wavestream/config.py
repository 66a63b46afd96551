"""Typed settings built from the environment.

Every setting comes from an environment variable with the ``WAVESTREAM_`` prefix
(``.env.example`` lists them all). librdkafka settings pass through unchanged:
``WAVESTREAM_KAFKA_<NAME>`` becomes the librdkafka property ``<name>`` with ``_`` read
as ``.`` (write ``__`` for a literal ``_``), so SASL/TLS work without code changes, e.g.
``WAVESTREAM_KAFKA_SASL_MECHANISMS=PLAIN`` -> ``sasl.mechanisms=PLAIN``.

A missing required key raises :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import quote, urlsplit, urlunsplit

from wavestream.exceptions import ConfigError

PREFIX = "WAVESTREAM_"
KAFKA_PREFIX = PREFIX + "KAFKA_"

#: Every WAVESTREAM_<KEY> the code reads (besides the WAVESTREAM_KAFKA_* pass-through).
#: Reading an undeclared key is a bug; .env.example documents exactly these keys.
KEYS = frozenset(
    {
        "SCHEMA_REGISTRY_URL",
        "TOPIC_PARTITIONS",
        "TOPIC_REPLICATION_FACTOR",
        "TOPIC_MIN_INSYNC_REPLICAS",
        "PG_DSN",
        "PG_CONNECT_TIMEOUT_S",
        "PG_PASSWORD",
        "LOG_LEVEL",
        "LOG_FORMAT",
        "RUN_ID",
        "METRICS_PORT",
        "STALE_AFTER_MINUTES",
        "METRICS_HOST",
        "HEALTH_MAX_POLL_AGE_S",
        "STACK_DIR",
        "CACHE_DIR",
        "STACK_HOST",
        "STACK_KAFKA_PORT",
        "STACK_CONTROLLER_PORT",
        "STACK_PG_PORT",
        "STACK_KAFKA_VERSION",
        "STACK_KAFKA_HEAP",
        "STACK_STARTUP_TIMEOUT_S",
        "SUBMIT_LEDGER_DIR",
        "TEST_KAFKA_BOOTSTRAP_SERVERS",
        "TEST_PG_DSN",
    }
)

# librdkafka property names that hold secrets: never logged.
_SECRET_WORDS = ("password", "secret", "key", "token", "credentials")


def _lookup(env: Mapping[str, str], key: str, default: str | None = None) -> str:
    if key not in KEYS:
        raise ConfigError(f"{PREFIX}{key} is not a declared setting (add it to config.KEYS and .env.example)")
    value = env.get(PREFIX + key)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"missing required setting {PREFIX}{key}")
        return default
    return value


def _int(env: Mapping[str, str], key: str, default: int, *, minimum: int = 0) -> int:
    raw = _lookup(env, key, str(default))
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}{key} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{PREFIX}{key} must be >= {minimum}, got {value}")
    return value


def _optional_int(env: Mapping[str, str], key: str, *, minimum: int = 0) -> int | None:
    """None when the key is unset or empty, else as :func:`_int`."""
    if _lookup(env, key, "") == "":
        return None
    return _int(env, key, 0, minimum=minimum)


def _float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = _lookup(env, key, str(default))
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}{key} must be a number, got {raw!r}") from exc


def env_key_to_librdkafka(suffix: str) -> str:
    """Map the part after ``WAVESTREAM_KAFKA_`` to a librdkafka property name."""
    placeholder = "\0"
    return suffix.replace("__", placeholder).lower().replace("_", ".").replace(placeholder, "_")


def librdkafka_to_env_key(prop: str) -> str:
    """Inverse of :func:`env_key_to_librdkafka`: the env variable for a property."""
    return KAFKA_PREFIX + prop.replace("_", "__").replace(".", "_").upper()


def kafka_client_properties(env: Mapping[str, str]) -> dict[str, str]:
    """The librdkafka properties that ``WAVESTREAM_KAFKA_*`` settings in ``env`` carry
    (empty values left out); ``bootstrap.servers`` may be missing."""
    return {
        env_key_to_librdkafka(key[len(KAFKA_PREFIX):]): value
        for key, value in env.items()
        if key.startswith(KAFKA_PREFIX) and value != ""
    }


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def redact_config(conf: Mapping[str, object]) -> dict[str, object]:
    """A copy of a client config safe to log: secret values are masked."""
    return {k: ("***" if is_secret(k) else v) for k, v in conf.items()}


def url_dsn(user: str, password: str | None, host: str, port: int, dbname: str) -> str:
    """A ``postgresql://`` URL with every part percent-encoded: a password (or user name)
    holding ``@ : / # % ?`` or spaces survives. The result holds the password: never log
    it (see :func:`redact_dsn`)."""
    userinfo = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"postgresql://{userinfo}@{host}:{int(port)}/{quote(dbname, safe='')}"


def redact_dsn(dsn: str) -> str:
    """A DSN (URL or key=value form) with its password masked."""
    if "://" in dsn:
        parts = urlsplit(dsn)
        if parts.password:
            netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
            return urlunsplit(parts._replace(netloc=netloc))
        return dsn
    return re.sub(r"(password\s*=\s*)(\S+)", r"\1***", dsn)


@dataclass(frozen=True)
class KafkaSettings:
    """Connection to Kafka plus topic defaults.

    ``client`` holds the librdkafka properties from ``WAVESTREAM_KAFKA_*``; it always
    contains ``bootstrap.servers``. ``replication_factor`` / ``min_insync_replicas``
    None: chosen from the cluster when topics are created (``min(3, brokers)`` replicas,
    two in sync once there are three; see :func:`wavestream.topics.default_replication`).
    """

    client: Mapping[str, str]
    schema_registry_url: str | None = None
    partitions: int = 12
    replication_factor: int | None = None
    min_insync_replicas: int | None = None

    @property
    def bootstrap_servers(self) -> str:
        return self.client["bootstrap.servers"]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "KafkaSettings":
        """Build from the environment.

        Raises:
            ConfigError: ``WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS`` is missing or a number
                setting is not a number.
        """
        env = os.environ if env is None else env
        client = kafka_client_properties(env)
        if "bootstrap.servers" not in client:
            raise ConfigError(f"missing required setting {KAFKA_PREFIX}BOOTSTRAP_SERVERS")
        registry = _lookup(env, "SCHEMA_REGISTRY_URL", "") or None
        return cls(
            client=client,
            schema_registry_url=registry,
            partitions=_int(env, "TOPIC_PARTITIONS", 12, minimum=1),
            replication_factor=_optional_int(env, "TOPIC_REPLICATION_FACTOR", minimum=1),
            min_insync_replicas=_optional_int(env, "TOPIC_MIN_INSYNC_REPLICAS", minimum=1),
        )


@dataclass(frozen=True)
class PostgresSettings:
    """Connection to PostgreSQL (libpq DSN, URL or key=value form).

    ``password`` (``WAVESTREAM_PG_PASSWORD``) is passed to libpq beside the DSN, so a
    password with URL-special characters (``@ : / # % ?``) needs no encoding and the
    DSN itself holds no secret. A password in the DSN still works (URL-encoded).
    """

    dsn: str
    connect_timeout_s: int = 10
    password: str | None = field(default=None, repr=False)

    @property
    def redacted(self) -> str:
        return redact_dsn(self.dsn)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "PostgresSettings":
        """Build from the environment.

        Raises:
            ConfigError: ``WAVESTREAM_PG_DSN`` is missing.
        """
        env = os.environ if env is None else env
        return cls(
            dsn=_lookup(env, "PG_DSN"),
            connect_timeout_s=_int(env, "PG_CONNECT_TIMEOUT_S", 10, minimum=1),
            password=_lookup(env, "PG_PASSWORD", "") or None,
        )


def _default_cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wavestream"


@dataclass(frozen=True)
class StackSettings:
    """The embedded stack (KRaft Kafka + PostgreSQL) on loopback.

    ``brokers`` is not read from the environment: ``stack up --brokers N`` sets it, and
    None means "as many Kafka nodes as the stack directory holds, else one".
    """

    data_dir: Path
    cache_dir: Path
    host: str = "127.0.0.1"
    kafka_port: int = 19092
    controller_port: int = 19093
    pg_port: int = 15432
    kafka_version: str = "4.1.1"
    scala_version: str = "2.13"
    kafka_home: Path | None = None
    kafka_heap: str = "-Xms256m -Xmx768m"
    startup_timeout_s: float = 120.0
    brokers: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "StackSettings":
        """Build from the environment; every key has a default.

        ``KAFKA_HOME`` (no prefix, as Kafka's own scripts use it) selects an existing
        Kafka installation instead of jars resolved from Maven Central.

        Raises:
            ConfigError: a number setting is not a number.
        """
        env = os.environ if env is None else env
        kafka_home = env.get("KAFKA_HOME") or None
        return cls(
            data_dir=Path(_lookup(env, "STACK_DIR", ".wavestream/stack")).expanduser().resolve(),
            cache_dir=Path(_lookup(env, "CACHE_DIR", str(_default_cache_home()))).expanduser(),
            host=_lookup(env, "STACK_HOST", "127.0.0.1"),
            kafka_port=_int(env, "STACK_KAFKA_PORT", 19092, minimum=1),
            controller_port=_int(env, "STACK_CONTROLLER_PORT", 19093, minimum=1),
            pg_port=_int(env, "STACK_PG_PORT", 15432, minimum=1),
            kafka_version=_lookup(env, "STACK_KAFKA_VERSION", "4.1.1"),
            kafka_home=Path(kafka_home) if kafka_home else None,
            kafka_heap=_lookup(env, "STACK_KAFKA_HEAP", "-Xms256m -Xmx768m"),
            startup_timeout_s=_float(env, "STACK_STARTUP_TIMEOUT_S", 120.0),
        )


def _default_state_home() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "wavestream"


@dataclass(frozen=True)
class SubmitSettings:
    """``wavestream submit``: where the ledger of delivered postings lives."""

    ledger_dir: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "SubmitSettings":
        """Build from the environment; the default is ``$XDG_STATE_HOME/wavestream/submitted``
        (``~/.local/state/wavestream/submitted``)."""
        env = os.environ if env is None else env
        default = str(_default_state_home() / "submitted")
        return cls(ledger_dir=Path(_lookup(env, "SUBMIT_LEDGER_DIR", default)).expanduser())


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"
    fmt: str = "json"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "LogSettings":
        env = os.environ if env is None else env
        fmt = _lookup(env, "LOG_FORMAT", "json").lower()
        if fmt not in ("json", "text"):
            raise ConfigError(f"{PREFIX}LOG_FORMAT must be json or text, got {fmt!r}")
        return cls(level=_lookup(env, "LOG_LEVEL", "INFO").upper(), fmt=fmt)


@dataclass(frozen=True)
class DashboardSettings:
    """``wavestream status``: an in-flight posting without an event for
    ``stale_after_minutes`` is a stale interaction."""

    stale_after_minutes: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "DashboardSettings":
        """Raises: ConfigError: the threshold is not a whole number of minutes >= 1."""
        env = os.environ if env is None else env
        return cls(stale_after_minutes=_int(env, "STALE_AFTER_MINUTES", 30, minimum=1))
