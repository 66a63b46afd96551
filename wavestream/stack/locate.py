"""Point commands at the running embedded stack when the environment names no endpoint.

After ``wavestream stack up`` every command finds the stack of the current directory
(or of ``WAVESTREAM_STACK_DIR``) without ``eval "$(wavestream stack env)"``. An endpoint
set in the environment always wins: only a missing ``WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS``
or ``WAVESTREAM_PG_DSN`` is filled in, and only from a service whose pid file names a
live process and whose port answers.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import MutableMapping

from wavestream.config import StackSettings
from wavestream.stack.manager import Stack, state_file
from wavestream.stack.process import port_answers

log = logging.getLogger(__name__)

BOOTSTRAP_KEY = "WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS"
PG_DSN_KEY = "WAVESTREAM_PG_DSN"
_PORT_KEYS = ("kafka_port", "controller_port", "pg_port")


def recorded_settings(settings: StackSettings) -> StackSettings:
    """``settings`` with the host and ports that ``stack up`` recorded in its state file,
    so a command run without the same ``WAVESTREAM_STACK_*`` ports still finds the stack.
    Unchanged when there is no (readable) state file."""
    try:
        state = json.loads(state_file(settings).read_text())
    except (OSError, ValueError):
        return settings
    if not isinstance(state, dict):
        return settings
    changes = {key: state[key] for key in _PORT_KEYS if isinstance(state.get(key), int)}
    if isinstance(state.get("host"), str):
        changes["host"] = state["host"]
    return replace(settings, **changes)


def running_stack_env(settings: StackSettings) -> dict[str, str]:
    """The endpoint settings of the embedded stack's services that run now: a service
    counts when its pid file names a live process and its port accepts connections."""
    stack = Stack(recorded_settings(settings))  # idempotent on already recorded settings
    s = stack.settings
    found: dict[str, str] = {}
    if stack.kafka.is_running() and port_answers(s.host, s.kafka_port):
        found[BOOTSTRAP_KEY] = stack.kafka.bootstrap_servers
    if stack.postgres.is_running() and stack.postgres.password_file.exists() and port_answers(s.host, s.pg_port):
        found[PG_DSN_KEY] = stack.postgres.dsn()
    return found


def fill_from_running_stack(environ: MutableMapping[str, str]) -> list[str]:
    """Set the missing endpoint keys of ``environ`` from the running embedded stack and
    log one line naming them (never the DSN's password). Keys already set are kept.

    Returns:
        The keys filled in (empty when both were set or no stack runs).

    Raises:
        ConfigError: a ``WAVESTREAM_STACK_*`` setting is invalid.
    """
    missing = [key for key in (BOOTSTRAP_KEY, PG_DSN_KEY) if not environ.get(key)]
    if not missing:
        return []
    settings = recorded_settings(StackSettings.from_env(environ))
    found = running_stack_env(settings)
    filled = {key: found[key] for key in missing if key in found}
    if filled:
        environ.update(filled)
        names = {BOOTSTRAP_KEY: f"Kafka {settings.host}:{settings.kafka_port}",
                 PG_DSN_KEY: f"PostgreSQL {settings.host}:{settings.pg_port}"}
        log.info("using the embedded stack in %s: %s (set %s to use other services)",
                 settings.data_dir, ", ".join(names[key] for key in filled), " / ".join(filled))
    return list(filled)


__all__ = ["fill_from_running_stack", "recorded_settings", "running_stack_env"]
