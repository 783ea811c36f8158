"""Rows from the API models: what the operator hands to `save_run`."""

from datetime import datetime
from typing import Any

from loadtest_operator.api import ClientSaturation, LatencyFrom, LatencySummary, LevelResult, LoadTestSpec
from loadtest_operator.io.store.models import LevelResultRow, Run
from loadtest_operator.loadtest.target import target_display

# Indexed text columns hold at most this many UTF-8 bytes: a PostgreSQL btree entry must stay under
# about 2.7 kB, and history filters on these columns need no more. Longer values are cut, with a marker;
# the whole value stays in the row's JSON (spec, summary).
INDEXED_TEXT_MAX_BYTES = 1024
TRUNCATED_MARKER = "…[truncated]"


def indexable(value: str) -> str:
    """`value` cut to INDEXED_TEXT_MAX_BYTES, on a character boundary, ending in TRUNCATED_MARKER."""
    encoded = value.encode()
    if len(encoded) <= INDEXED_TEXT_MAX_BYTES:
        return value
    room = INDEXED_TEXT_MAX_BYTES - len(TRUNCATED_MARKER.encode())
    return encoded[:room].decode(errors="ignore") + TRUNCATED_MARKER


def run_row(
    *,
    uid: str,
    namespace: str,
    name: str,
    spec: LoadTestSpec,
    status: str,
    started_at: datetime,
    updated_at: datetime,
    reason: str | None = None,
    finished_at: datetime | None = None,
    model: str | None = None,
    best_goodput_level: int | None = None,
    summary: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
) -> Run:
    """A `runs` row for run spec.runId of the LoadTest `uid`. `model` is the resolved model (the spec's
    when None); `summary` is free-form JSON (e.g. the status without its per-level results)."""
    return Run(
        loadtest_uid=uid,
        run_id=spec.run_id,
        namespace=namespace,
        name=name,
        target=indexable(target_display(spec.target)),
        model=indexable(resolved) if (resolved := model or spec.target.model) else None,
        api=spec.target.api.value,
        mode=spec.load.mode.value,
        status=status,
        reason=reason,
        started_at=started_at,
        finished_at=finished_at,
        best_goodput_level=best_goodput_level,
        spec=spec.model_dump(mode="json", by_alias=True, exclude_none=True),
        summary=summary,
        updated_at=updated_at,
        labels=labels or {},
        **fingerprint_columns(summary or {}),
    )


def fingerprint_columns(summary: dict[str, Any]) -> dict[str, Any]:
    """The `runs` columns of status.fingerprint and status.validation, from the run's summary (the
    status without its levels, in wire form)."""
    found, checks = summary.get("fingerprint"), summary.get("validation")
    fingerprint: dict[str, Any] | None = found if isinstance(found, dict) else None
    validation: dict[str, Any] = checks if isinstance(checks, dict) else {}
    version = (fingerprint or {}).get("vllmVersion")
    return {
        "vllm_version": indexable(version) if isinstance(version, str) else None,
        "fingerprint": fingerprint,
        "validation_checks": validation.get("checks"),
        "validation_failed": validation.get("failed"),
    }


def level_row(uid: str, run_id: int, result: LevelResult) -> LevelResultRow:
    """A `level_results` row: the figures as columns, the whole result as JSON."""
    saturation = result.saturation or ClientSaturation()
    return LevelResultRow(
        loadtest_uid=uid,
        run_id=run_id,
        level=result.level,
        requests=result.requests,
        successes=result.successes,
        errors=result.requests - result.successes,
        requests_per_second=result.requests_per_second,
        output_tokens_per_second=result.output_tokens_per_second,
        total_tokens_per_second=result.total_tokens_per_second,
        # A level without latencyFrom comes from an operator before it, which timed from the send.
        latency_from=(result.latency_from or LatencyFrom.SEND_TIME).value,
        **_latency_columns("ttft", result.ttft),
        **_latency_columns("tpot", result.tpot),
        **_latency_columns("itl", result.itl),
        **_latency_columns("e2e", result.e2e),
        **_latency_columns("ttft_from_send", result.ttft_from_send),
        **_latency_columns("e2e_from_send", result.e2e_from_send),
        **_latency_columns("schedule_lag", result.schedule_lag),
        token_mismatches=result.token_mismatches,
        usage_missing=result.usage_missing,
        loop_lag_p50_ms=saturation.loop_lag_milliseconds_p50,
        loop_lag_p99_ms=saturation.loop_lag_milliseconds_p99,
        loop_lag_max_ms=saturation.loop_lag_milliseconds_max,
        goodput_count=result.goodput.count if result.goodput else None,
        goodput_per_second=result.goodput.per_second if result.goodput else None,
        goodput_percent=result.goodput.percent if result.goodput else None,
        within_slo=result.within_slo,
        client_saturated=result.client_saturated,
        started_at=result.start,
        finished_at=result.end,
        result=result.model_dump(mode="json", by_alias=True, exclude_none=True),
        validation_failed=result.validation.failed if result.validation else None,
        **_spread_columns(result),
        gpu_count=result.gpu.gpu_count if result.gpu else None,
        joules_per_1k_output_tokens=result.gpu.joules_per_1k_output_tokens if result.gpu else None,
    )


def _spread_columns(result: LevelResult) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for metric, summary in (
        ("ttft", result.ttft),
        ("tpot", result.tpot),
        ("itl", result.itl),
        ("e2e", result.e2e),
    ):
        columns[f"{metric}_count"] = summary.count if summary else None
        columns[f"{metric}_stddev_ms"] = summary.stddev if summary else None
    return columns


def _latency_columns(metric: str, summary: LatencySummary | None) -> dict[str, Any]:
    summary = summary or LatencySummary()
    return {
        f"{metric}_p50_ms": summary.p50,
        f"{metric}_p90_ms": summary.p90,
        f"{metric}_p95_ms": summary.p95,
        f"{metric}_p99_ms": summary.p99,
        f"{metric}_p999_ms": summary.p999,
        f"{metric}_mean_ms": summary.mean,
    }
