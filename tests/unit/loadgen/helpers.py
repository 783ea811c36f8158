"""Builders of hand-made results for the unit tests."""

from __future__ import annotations

from loadgen.config import SaturationThresholds, Slo
from loadgen.histogram import LogHistogram
from loadgen.result import LevelRaw, LevelResult, RunResult, build_level


def level_from_rows(
    rows: list[tuple[int, int, int, int, int]],
    *,
    start: float = 1000.0,
    end: float = 1010.0,
    errors: dict[str, int] | None = None,
    itl_values: list[float] | None = None,
    slo: Slo | None = None,
    load_mode: str = "concurrency",
    offered_load: int = 4,
) -> LevelResult:
    """rows: (ttft_us, e2e_us, output_tokens, input_tokens, schedule_lag_us) per successful request."""
    raw = LevelRaw(
        ttft_us=[r[0] for r in rows],
        e2e_us=[r[1] for r in rows],
        output_tokens=[r[2] for r in rows],
        input_tokens=[r[3] for r in rows],
        schedule_lag_us=[r[4] for r in rows],
    )
    itl = LogHistogram()
    for v in itl_values or []:
        itl.add(v)
    errors = errors or {}
    return build_level(
        index=0,
        load_mode="rate" if load_mode == "rate" else "concurrency",
        offered_load=offered_load,
        streamed=True,
        start=start,
        end=end,
        requests=len(rows) + sum(errors.values()),
        errors=errors,
        raw=raw,
        itl=itl,
        loop_lag=LogHistogram(),
        token_mismatch_count=0,
        usage_missing_count=0,
        slo=slo or Slo(),
        thresholds=SaturationThresholds(),
    )


def run_of(levels: list[LevelResult], slo: Slo | None = None) -> RunResult:
    config = {"slo": (slo or Slo()).model_dump(), "saturation": SaturationThresholds().model_dump()}
    return RunResult(model="m", config=config, levels=levels)
