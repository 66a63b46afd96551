"""The monitoring queries behind ``wavestream status`` (read-only; the reader role can
run them all) and the runner of the data-quality checks of ``status --check``
(:mod:`projector.checks`). Consumer lag: :mod:`projector.lag`.

Every function returns plain JSON-ready values (numbers, strings, ISO timestamps).
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterable

from projector.checks import Check
from wavestream.db import Connection, transaction

log = logging.getLogger(__name__)

_WORKFLOW = """
SELECT status, count(*) FROM postings GROUP BY status ORDER BY status
"""
_STAGES = """
SELECT stage, count(*) AS executions,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(DISTINCT posting_id) AS postings,
       round(count(*) FILTER (WHERE status = 'completed')::numeric / count(*), 4) AS completion_rate,
       round(avg(duration_ms), 1) AS avg_duration_ms
  FROM execution_events WHERE status IS NOT NULL
 GROUP BY stage ORDER BY min(created_at), stage
"""
_ACTORS = """
SELECT actor_name, actor_kind, calls, success_rate, duration_ms_min, avg_duration_ms, p95_duration_ms,
       duration_ms_max, tokens_per_s
  FROM actor_performance_report ORDER BY calls DESC, actor_name
"""
_ERRORS = """
SELECT stage, error_type, regexp_replace(left(error_message, 200), '[0-9]+', 'N', 'g') AS pattern,
       count(*) AS count, max(created_at) AS last_seen, min(posting_id) AS example_posting_id
  FROM execution_events
 WHERE status = 'failed' AND created_at >= now() - make_interval(hours => %(hours)s)
 GROUP BY 1, 2, 3 ORDER BY count(*) DESC, 1, 2, 3 LIMIT %(limit)s
"""
_PROJECTOR_ERRORS = """
SELECT reason, count(*) AS count, max(at) AS last_at, min("offset") AS first_offset
  FROM projector_errors GROUP BY reason ORDER BY count(*) DESC, reason
"""
_STALE = """
SELECT posting_id, status, current_stage, stage_since, updated_at,
       round(extract(epoch FROM now() - updated_at))::bigint AS age_s
  FROM postings
 WHERE status IN ('received', 'in_progress', 'awaiting_decision')
   AND updated_at < now() - make_interval(mins => %(minutes)s)
 ORDER BY updated_at LIMIT %(limit)s
"""
_THROUGHPUT = """
SELECT date_trunc('hour', created_at) AS hour,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE event_type = 'PostingCompleted') AS postings_completed,
       count(*) AS events
  FROM execution_events GROUP BY 1 ORDER BY 1 DESC LIMIT %(hours)s
"""
_TIMELINE = """
SELECT created_at, event_type, stage, attempt, status, actor_name, duration_ms,
       coalesce(left(output, 120), error_type || ': ' || left(error_message, 120),
                payload->>'to_stage', payload->>'status', payload->>'reason', payload->>'decision') AS detail,
       kafka_partition, kafka_offset, event_id
  FROM execution_events WHERE posting_id = %(posting_id)s ORDER BY created_at, kafka_offset
"""
_POSTING = """
SELECT posting_id, title, company, status, current_stage, summary, skills, score, score_rationale,
       error_count, received_at, updated_at, completed_at
  FROM postings WHERE posting_id = %(posting_id)s
"""
_OFFSETS = "SELECT topic, partition, next_offset FROM projector_offsets ORDER BY topic, partition"

def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def _rows(cur: Any, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    cur.execute(query, params or {})
    names = [d[0] for d in cur.description]
    return [jsonable(dict(zip(names, row))) for row in cur.fetchall()]


def collect(conn: Connection, *, error_hours: int = 24, stale_minutes: int = 30, throughput_hours: int = 24,
            limit: int = 20) -> dict[str, Any]:
    """The dashboard's views, read in one (repeatable-read) snapshot. An in-flight
    posting without an event for ``stale_minutes`` is a stale interaction; the
    threshold is part of the report (``stale_after_minutes``)."""
    conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
    try:
        with transaction(conn), conn.cursor() as cur:
            by_status = {row["status"]: row["count"] for row in _rows(cur, _WORKFLOW)}
            total = sum(by_status.values())
            finished = sum(by_status.get(s, 0) for s in ("completed", "failed", "rejected", "cancelled"))
            report = {
                "generated_at": datetime.now(timezone.utc).isoformat(),
                "workflow_summary": {
                    "postings": total, "by_status": by_status,
                    "completion_pct": round(100.0 * by_status.get("completed", 0) / total, 1) if total else 0.0,
                    "finished_pct": round(100.0 * finished / total, 1) if total else 0.0,
                },
                "stage_completion": _rows(cur, _STAGES),
                "actor_performance": _rows(cur, _ACTORS),
                "error_patterns": _rows(cur, _ERRORS, {"hours": error_hours, "limit": limit}),
                "projector_errors": _rows(cur, _PROJECTOR_ERRORS),
                "stale_after_minutes": stale_minutes,
                "stale_interactions": _rows(cur, _STALE, {"minutes": stale_minutes, "limit": limit}),
                "throughput_per_hour": _rows(cur, _THROUGHPUT, {"hours": throughput_hours}),
                "projector_offsets": _rows(cur, _OFFSETS),
            }
    finally:
        conn.set_session(isolation_level="DEFAULT", readonly=False)
    return report


def timeline(conn: Connection, posting_id: str) -> dict[str, Any]:
    """One posting's row and its events in order (``status --posting ID``)."""
    with transaction(conn), conn.cursor() as cur:
        posting = _rows(cur, _POSTING, {"posting_id": posting_id})
        events = _rows(cur, _TIMELINE, {"posting_id": posting_id})
    return {"posting": posting[0] if posting else None, "events": events}


def run_checks(conn: Connection, checks: Iterable[Check]) -> list[dict[str, Any]]:
    """Run ``checks`` (see :func:`projector.checks.workflow_checks`): name, description,
    violations, sample ids, ok for each."""
    results = []
    with transaction(conn), conn.cursor() as cur:
        for check in checks:
            cur.execute(check.query, check.params)
            count, sample = cur.fetchone()
            results.append({"check": check.name, "description": check.description, "violations": int(count),
                            "sample": [s for s in (sample or []) if s is not None], "ok": count == 0})
    return results
