"""Plain-text rendering of ``wavestream status`` (the report of :mod:`projector.status`)."""

from __future__ import annotations

from typing import Any, Iterable, Sequence


#: Columns holding a fraction 0..1, shown as a percentage.
PERCENT_KEYS = frozenset({"completion_rate", "success_rate"})


def percent(value: Any) -> str:
    """A fraction 0..1 as a percentage: ``1`` -> ``100%``, ``0.9753`` -> ``97.5%``."""
    if value is None:
        return "-"
    text = f"{100.0 * float(value):.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _cell(value: Any, key: str | None = None) -> str:
    if value is None:
        return "-"
    if key in PERCENT_KEYS:
        return percent(value)
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, dict)):
        return str(value)
    text = str(value)
    if len(text) >= 19 and text[10:11] == "T":  # ISO timestamp: minutes are enough
        return text[:16].replace("T", " ")
    return text


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], *, empty: str = "(none)") -> list[str]:
    """Aligned lines for ``rows`` with ``columns`` = [(key, header), ...]."""
    if not rows:
        return ["  " + empty]
    cells = [[_cell(row.get(key), key) for key, _ in columns] for row in rows]
    widths = [max(len(header), *(len(r[i]) for r in cells)) for i, (_, header) in enumerate(columns)]
    widths = [min(w, 60) for w in widths]

    def line(values: Iterable[str]) -> str:
        return "  " + "  ".join(v[:w].ljust(w) for v, w in zip(values, widths)).rstrip()

    return [line(h for _, h in columns), line("-" * w for w in widths), *(line(r) for r in cells)]


def render(report: dict[str, Any]) -> str:
    lines: list[str] = []

    def section(title: str) -> None:
        lines.extend(["", f"== {title} " + "=" * max(0, 70 - len(title))])

    summary = report["workflow_summary"]
    section("workflow summary")
    lines.append(f"  postings {summary['postings']:,}   completed {summary['completion_pct']}%"
                 f"   finished {summary['finished_pct']}%")
    lines.extend(table([{"status": s, "postings": n} for s, n in summary["by_status"].items()],
                       [("status", "status"), ("postings", "postings")]))
    section("stage completion rates")
    lines.extend(table(report["stage_completion"], [
        ("stage", "stage"), ("executions", "runs"), ("completed", "ok"), ("failed", "failed"),
        ("completion_rate", "rate"), ("postings", "postings"), ("avg_duration_ms", "avg ms")]))
    section("actor performance")
    lines.extend(table(report["actor_performance"], [
        ("actor_name", "actor"), ("actor_kind", "kind"), ("calls", "calls"), ("success_rate", "success"),
        ("duration_ms_min", "min ms"), ("avg_duration_ms", "avg ms"), ("p95_duration_ms", "p95 ms"),
        ("duration_ms_max", "max ms"), ("tokens_per_s", "tok/s")]))
    section("recent errors by pattern")
    lines.extend(table(report["error_patterns"], [
        ("count", "count"), ("stage", "stage"), ("error_type", "type"), ("pattern", "pattern"),
        ("last_seen", "last seen"), ("example_posting_id", "example")]))
    if report.get("projector_errors"):
        lines.append("  records the projector skipped:")
        lines.extend(table(report["projector_errors"], [
            ("reason", "reason"), ("count", "count"), ("first_offset", "first offset"), ("last_at", "last")]))
    section(f"stale interactions (no event for {report['stale_after_minutes']} min)")
    lines.extend(table(report["stale_interactions"], [
        ("posting_id", "posting"), ("status", "status"), ("current_stage", "stage"), ("updated_at", "last event"),
        ("age_s", "age s")]))
    section("throughput per hour")
    lines.extend(table(report["throughput_per_hour"], [
        ("hour", "hour"), ("completed", "completed"), ("failed", "failed"),
        ("postings_completed", "postings done"), ("events", "events")]))
    section("consumer lag")
    lag = report.get("consumer_lag") or {}
    if lag.get("error"):
        lines.append(f"  unavailable: {lag['error']}")
    lines.append("  lag = records behind (transaction markers not counted); a partition without a committed"
                 " offset is behind by every record it holds")
    lines.extend(table(lag.get("groups", []), [
        ("group", "group"), ("topic", "topic"), ("partitions", "parts"), ("behind", "behind"),
        ("uncommitted", "uncommitted"), ("lag", "lag")], empty="(no consumer groups)"))
    for problem in lag.get("problems", []):
        lines.append(f"  ! {problem}")
    if lag.get("projector"):
        lines.append("  projector (offsets stored in PostgreSQL):")
        lines.extend(table(lag["projector"], [("topic", "topic"), ("partition", "partition"),
                                              ("next_offset", "next"), ("high_watermark", "end"), ("lag", "lag")]))
    lines.append("")
    return "\n".join(lines)


def render_timeline(data: dict[str, Any], posting_id: str) -> str:
    posting = data["posting"]
    if posting is None and not data["events"]:
        return f"no posting {posting_id}"
    lines = [f"posting {posting_id}"]
    if posting:
        for key in ("title", "company", "status", "current_stage", "score", "summary", "skills", "error_count",
                    "received_at", "completed_at"):
            lines.append(f"  {key:14} {_cell(posting.get(key))}")
    lines.append("")
    lines.extend(table(data["events"], [
        ("created_at", "time"), ("event_type", "event"), ("stage", "stage"), ("attempt", "try"),
        ("duration_ms", "ms"), ("detail", "detail")]))
    return "\n".join(lines)


def render_checks(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        mark = "ok  " if r["ok"] else "FAIL"
        sample = f"  e.g. {', '.join(r['sample'])}" if r["sample"] else ""
        lines.append(f"{mark} {r['check']:26} {r['violations']:>6}  {r['description']}{sample}")
    return "\n".join(lines)
