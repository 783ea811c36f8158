"""Findings of a run, each drawn by one rule from the LoadTest's per-level figures, with the numbers behind it.

Every rule is a pure function `(RunFigures) -> Finding | None`: None when the run has no figures the rule
could judge (no SLO, one shard, no GPU series, ...). The thresholds are the module constants below, and
docs/dashboard.md states each rule with them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from loadtest_operator.api import LevelResult, Slo
from loadtest_operator.capacity.slo import latency_misses
from loadtest_operator.loadtest.barrier import MIN_SHARD_OVERLAP

# One load step that multiplies the latency by at least this much is a jump ...
LATENCY_JUMP_FACTOR = 2.0
# ... and when throughput rose by less than this (percent) over the same step, the server is saturated.
FLAT_THROUGHPUT_GAIN_PERCENT = 10.0
# vLLM's queue counts as used when its time-averaged waiting requests reach this.
QUEUE_WAITING_MEAN = 0.5
# KV-cache use (highest of any pod) from which vLLM soon preempts or stops admitting requests.
KV_CACHE_HIGH_PERCENT = 90.0
# A level whose failed share reaches this is a problem; any error at all is a warning.
ERROR_PROBLEM_PERCENT = 5.0
# Energy per token changing by less than this across the levels is flat.
ENERGY_FLAT_PERCENT = 5.0


class Severity(StrEnum):
    """How much a finding matters: ok (checked, nothing to see), info, warning, problem."""

    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    PROBLEM = "problem"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


@dataclass(frozen=True)
class Figure:
    """One number behind a finding, e.g. ("TTFT p90 at level 8", 282.2, "ms")."""

    label: str
    value: float | int | str | None
    unit: str = ""

    def text(self) -> str:
        if self.value is None:
            return "-"
        if isinstance(self.value, float):
            digits = 3 if abs(self.value) < 10 else 1
            value = f"{self.value:.{digits}f}".rstrip("0").rstrip(".")
        else:
            value = str(self.value)
        return f"{value} {self.unit}".strip()


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    title: str
    detail: str
    figures: tuple[Figure, ...] = ()
    levels: tuple[int, ...] = ()  # the levels the finding is about


@dataclass(frozen=True)
class RunFigures:
    """What the rules read: the levels in ascending order and the SLO they were judged against."""

    levels: tuple[LevelResult, ...]
    slo: Slo | None = None
    unit: str = "concurrency"  # what a level counts: concurrency, or requests per second
    notes: tuple[str, ...] = field(default=())

    @classmethod
    def of(
        cls, levels: Sequence[LevelResult], slo: Slo | None = None, unit: str = "concurrency"
    ) -> RunFigures:
        return cls(tuple(sorted(levels, key=lambda lv: lv.level)), slo, unit)


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0


def _errors(lv: LevelResult) -> int:
    return lv.requests - lv.successes


# -- the knee --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Miss:
    metric: str  # "TTFT p90"
    value: float
    limit: int

    def text(self) -> str:
        return f"{self.metric} {self.value:.1f} ms > {self.limit} ms"


def slo_misses(slo: Slo, lv: LevelResult) -> list[Miss]:
    """The objectives `lv` misses at the SLO's percentile (the closest reported one at or above it)."""
    return [Miss(f"{m.metric.upper()} {m.percentile}", m.value, m.limit) for m in latency_misses(slo, lv)]


def knee(run: RunFigures) -> Finding | None:
    """The highest level within the SLO below the first that missed it, and why that one missed."""
    judged = [lv for lv in run.levels if lv.within_slo is not None]
    if not judged:
        if not run.levels:
            return None
        best = max(run.levels, key=lambda lv: lv.requests_per_second)
        return Finding(
            "knee",
            Severity.INFO,
            f"No SLO: the highest throughput was at level {best.level}",
            "Without spec.slo no level is judged; set one to find the knee.",
            (Figure(f"requests per second at level {best.level}", best.requests_per_second, "req/s"),),
            (best.level,),
        )
    first_miss = next((lv for lv in judged if lv.within_slo is False), None)
    below = [lv for lv in judged if first_miss is None or lv.level < first_miss.level]
    good = below[-1] if below and all(lv.within_slo for lv in below) else None
    figures: list[Figure] = []
    if good is not None:
        figures += [
            Figure(f"requests per second at level {good.level}", good.requests_per_second, "req/s"),
            Figure(
                f"goodput at level {good.level}", good.goodput.per_second if good.goodput else None, "req/s"
            ),
        ]
    if first_miss is None:
        assert good is not None
        return Finding(
            "knee",
            Severity.INFO,
            f"Every level was within the SLO: the knee is at level {good.level} or above",
            f"No level missed the SLO, so {good.level} ({run.unit}) is a lower bound of the capacity; "
            "measure higher levels to find the knee.",
            tuple(figures),
            (good.level,),
        )
    misses = slo_misses(run.slo, first_miss) if run.slo else []
    goodput = first_miss.goodput.percent if first_miss.goodput else None
    figures += [
        Figure(f"{m.metric} at level {first_miss.level} (objective {m.limit} ms)", m.value, "ms")
        for m in misses
    ]
    figures.append(Figure(f"goodput at level {first_miss.level}", goodput, "%"))
    why = ", ".join(m.text() for m in misses)
    if good is None:
        return Finding(
            "knee",
            Severity.PROBLEM,
            f"Even the lowest level, {first_miss.level}, missed the SLO",
            f"Level {first_miss.level} missed the SLO" + (f" ({why})" if why else "") + "; no measured "
            "load is within it. Measure lower levels, or the objectives cannot be met by this deployment.",
            tuple(figures),
            (first_miss.level,),
        )
    return Finding(
        "knee",
        Severity.INFO,
        f"The knee is at level {good.level}; level {first_miss.level} was the first to miss the SLO",
        f"Level {good.level} ({run.unit}) is the highest level within the SLO below the first miss; level "
        f"{first_miss.level} missed it" + (f" ({why})" if why else "") + ".",
        tuple(figures),
        (good.level, first_miss.level),
    )


# -- latency growth --------------------------------------------------------------------------------------


def latency_growth(run: RunFigures) -> Finding | None:
    """The load step over which the headline TTFT (else E2E) p90 grew by the largest factor."""
    metric = "ttft" if any(lv.ttft for lv in run.levels) else "e2e"
    points = [(lv, getattr(lv, metric).p90) for lv in run.levels if getattr(lv, metric) is not None]
    steps = [(a, b, vb / va) for (a, va), (b, vb) in itertools.pairwise(points) if va and vb]
    if not steps:
        return None
    a, b, factor = max(steps, key=lambda s: s[2])
    gain = _pct(b.requests_per_second - a.requests_per_second, a.requests_per_second)
    name = metric.upper()
    figures = (
        Figure(f"{name} p90 at level {a.level}", getattr(a, metric).p90, "ms"),
        Figure(f"{name} p90 at level {b.level}", getattr(b, metric).p90, "ms"),
        Figure("growth factor", round(factor, 2), "x"),
        Figure(f"requests per second at level {a.level}", a.requests_per_second, "req/s"),
        Figure(f"requests per second at level {b.level}", b.requests_per_second, "req/s"),
        Figure("throughput gain", round(gain, 1), "%"),
    )
    saturated = factor >= LATENCY_JUMP_FACTOR and gain < FLAT_THROUGHPUT_GAIN_PERCENT
    detail = (
        f"From level {a.level} to {b.level} {name} p90 grew {factor:.2f}x while throughput rose {gain:.1f} %"
    )
    if saturated:
        detail += ": the server was saturated; the added load only waited."
    elif factor >= LATENCY_JUMP_FACTOR:
        detail += ": latency jumped, but throughput still grew."
    else:
        detail += f": latency grew smoothly (no step of {LATENCY_JUMP_FACTOR:.0f}x or more)."
    return Finding(
        "latency_growth",
        Severity.WARNING if saturated else Severity.INFO,
        f"Latency grew fastest from level {a.level} to {b.level} ({factor:.2f}x)",
        detail,
        figures,
        (a.level, b.level),
    )


# -- the load generator's own health --------------------------------------------------------------------


def client_saturation(run: RunFigures) -> Finding | None:
    """Levels where the load generator could not keep up: their figures are a lower bound."""
    if not run.levels:
        return None
    flagged = [lv for lv in run.levels if lv.client_saturated]
    lags = [lv.saturation.loop_lag_milliseconds_p99 for lv in run.levels if lv.saturation]
    worst_lag = max((x for x in lags if x is not None), default=None)
    if not flagged:
        return Finding(
            "client_saturation",
            Severity.OK,
            "The load generator kept up at every level",
            "No level crossed a saturation threshold (spec.loadGenerator.saturation).",
            (Figure("highest event-loop lag p99", worst_lag, "ms"),),
        )
    figures = []
    for lv in flagged:
        reasons = "; ".join((lv.saturation.reasons if lv.saturation else None) or []) or "no reason recorded"
        figures.append(Figure(f"level {lv.level}", reasons))
    return Finding(
        "client_saturation",
        Severity.WARNING,
        f"The load generator was saturated at {len(flagged)} level(s): {', '.join(str(lv.level) for lv in flagged)}",
        "Their latencies include the client's own delay and their throughput is a lower bound of the "
        "server's; add shards (parallelism), workers or CPU, or lower the level.",
        tuple(figures),
        tuple(lv.level for lv in flagged),
    )


def shard_alignment(run: RunFigures) -> Finding | None:
    """Levels whose shards did not run together (overlap below the operator's ShardsAligned threshold)."""
    overlaps = [(lv, lv.shard_overlap) for lv in run.levels if lv.shard_overlap is not None]
    if not overlaps:
        return None  # one shard: nothing to align
    low = [(lv, o) for lv, o in overlaps if o < MIN_SHARD_OVERLAP]
    lowest = min(overlaps, key=lambda x: x[1])
    if not low:
        return Finding(
            "shard_alignment",
            Severity.OK,
            "The shards ran together at every level",
            f"Every level's shards overlapped at least {MIN_SHARD_OVERLAP:.0%} of its window.",
            (Figure(f"lowest overlap (level {lowest[0].level})", lowest[1]),),
        )
    figures = []
    for lv, overlap in low:
        figures.append(Figure(f"overlap at level {lv.level}", overlap))
        figures.append(Figure(f"start spread at level {lv.level}", lv.shard_start_spread_milliseconds, "ms"))
    return Finding(
        "shard_alignment",
        Severity.WARNING,
        f"Shards were misaligned at {len(low)} level(s): {', '.join(str(lv.level) for lv, _ in low)}",
        f"Below {MIN_SHARD_OVERLAP:.0%} overlap the target never carried the whole level at once: the rates "
        "hold for the window, but the level's load was not applied. Check the nodes' clocks and the shard "
        "pods' start times.",
        tuple(figures),
        tuple(lv.level for lv, _ in low),
    )


def server_agreement(run: RunFigures) -> Finding | None:
    """The client's figures against vLLM's: latency gaps beyond the tolerance and failed checks."""
    judged = [lv for lv in run.levels if lv.server is not None or lv.validation is not None]
    if not judged:
        return None
    figures: list[Figure] = []
    levels: list[int] = []
    for lv in judged:
        failed = [c for c in (lv.validation.checks if lv.validation else []) if not c.passed]
        gaps = [
            (name, gap)
            for name, gap in (
                ("TTFT", lv.server.ttft_gap if lv.server else None),
                ("E2E", lv.server.e2e_gap if lv.server else None),
            )
            if gap is not None and gap.exceeds_tolerance
        ]
        for check in failed:
            diff = f" ({check.difference_percent:+.1f} %)" if check.difference_percent is not None else ""
            figures.append(
                Figure(
                    f"level {lv.level} {check.name}", f"client {check.client:g}, vLLM {check.server:g}{diff}"
                )
            )
        for name, gap in gaps:
            figures.append(
                Figure(
                    f"level {lv.level} {name} mean gap",
                    f"client {gap.client_ms:.1f} ms, vLLM {gap.server_ms:.1f} ms",
                )
            )
        if failed or gaps:
            levels.append(lv.level)
    if not levels:
        largest = max(
            (abs(g.gap_ms), lv.level)
            for lv in judged
            if lv.server
            for g in (lv.server.ttft_gap, lv.server.e2e_gap)
            if g is not None
        ) if any(lv.server and (lv.server.ttft_gap or lv.server.e2e_gap) for lv in judged) else None  # fmt: skip
        checks = sum(len(lv.validation.checks) for lv in judged if lv.validation)
        return Finding(
            "server_agreement",
            Severity.OK,
            "The client's figures agree with vLLM's at every level",
            "Every check against vLLM's own series passed within spec.validation's tolerance.",
            (
                Figure("checks", checks),
                Figure(
                    f"largest mean-latency gap (level {largest[1]})"
                    if largest
                    else "largest mean-latency gap",
                    largest[0] if largest else None,
                    "ms",
                ),
            ),
        )
    return Finding(
        "server_agreement",
        Severity.WARNING,
        f"The client and vLLM disagree at {len(levels)} level(s): {', '.join(map(str, levels))}",
        "The load generator measured more than the server: its own node, the network, a proxy, or pods "
        "the Service selects besides vLLM's (docs/gpu-metrics.md, Validation).",
        tuple(figures),
        tuple(levels),
    )


# -- vLLM's own state ------------------------------------------------------------------------------------


def queueing(run: RunFigures) -> Finding | None:
    """From which level vLLM queued requests (its batch full), with the batch size it held."""
    served = [
        lv for lv in run.levels if lv.server is not None and lv.server.requests_waiting_mean is not None
    ]
    if not served:
        return None
    queued = [
        lv for lv in served if ((lv.server and lv.server.requests_waiting_mean) or 0) >= QUEUE_WAITING_MEAN
    ]
    if not queued:
        busiest = max(served, key=lambda lv: (lv.server.requests_running_max or 0) if lv.server else 0)
        return Finding(
            "queueing",
            Severity.OK,
            "vLLM never queued requests",
            f"Waiting requests stayed below a time average of {QUEUE_WAITING_MEAN} at every level.",
            (
                Figure(
                    f"most running at once (level {busiest.level})",
                    busiest.server.requests_running_max if busiest.server else None,
                ),
            ),
        )
    first = queued[0]
    assert first.server is not None
    figures = [Figure(f"most running on a pod at level {first.level}", first.server.requests_running_max)]
    figures += [
        Figure(
            f"waiting, time average, at level {lv.level}",
            lv.server.requests_waiting_mean if lv.server else None,
        )
        for lv in queued
    ]
    within = [lv.level for lv in queued if lv.within_slo]
    detail = (
        f"From level {first.level} requests waited in vLLM's queue: its batch was full at "
        f"{first.server.requests_running_max:g} running requests, so more load adds waiting time to TTFT, "
        "not throughput (max-num-seqs, or the KV cache, bounds the batch)."
    )
    if within:
        detail += f" Levels {', '.join(map(str, within))} queued and still met the SLO."
    return Finding(
        "queueing",
        Severity.INFO,
        f"vLLM queued requests from level {first.level}",
        detail,
        tuple(figures),
        tuple(lv.level for lv in queued),
    )


def kv_cache(run: RunFigures) -> Finding | None:
    """The highest KV-cache use of any pod, and the levels at or above the pressure threshold."""
    used = [
        lv for lv in run.levels if lv.server is not None and lv.server.kv_cache_usage_percent_max is not None
    ]
    if not used:
        return None

    def top(lv: LevelResult) -> float:
        return lv.server.kv_cache_usage_percent_max or 0.0 if lv.server else 0.0

    peak = max(used, key=top)
    high = [lv for lv in used if top(lv) >= KV_CACHE_HIGH_PERCENT]
    figures = tuple(
        Figure(f"KV-cache use, highest, at level {lv.level}", top(lv), "%") for lv in (high or [peak])
    )
    if not high:
        return Finding(
            "kv_cache",
            Severity.OK,
            f"KV-cache use peaked at {top(peak):.1f} %",
            f"No pod's KV cache reached {KV_CACHE_HIGH_PERCENT:.0f} %.",
            figures,
            (peak.level,),
        )
    return Finding(
        "kv_cache",
        Severity.WARNING,
        f"KV-cache pressure from level {high[0].level} ({top(peak):.1f} % at level {peak.level})",
        f"At {KV_CACHE_HIGH_PERCENT:.0f} % or more vLLM preempts running requests or stops admitting new "
        "ones; longer prompts or outputs, or more load, make it worse (gpu-memory-utilization, "
        "max-model-len, kv-cache-dtype trade it).",
        figures,
        tuple(lv.level for lv in high),
    )


def preemptions(run: RunFigures) -> Finding | None:
    counted = [lv for lv in run.levels if lv.server is not None and lv.server.preemptions is not None]
    if not counted:
        return None
    hit = [lv for lv in counted if lv.server is not None and (lv.server.preemptions or 0) > 0]
    if not hit:
        return Finding("preemptions", Severity.OK, "vLLM preempted no request", "vllm:num_preemptions_total "
                       "did not grow in any level.", (Figure("levels counted", len(counted)),))  # fmt: skip
    figures = tuple(
        Figure(f"preemptions at level {lv.level}", lv.server.preemptions if lv.server else None) for lv in hit
    )
    return Finding(
        "preemptions",
        Severity.WARNING,
        f"vLLM preempted requests at {len(hit)} level(s), from level {hit[0].level}",
        "A preempted request is evicted from the KV cache and recomputed later: its latency grows and the "
        "GPU repeats work. The KV cache is too small for this load.",
        figures,
        tuple(lv.level for lv in hit),
    )


# -- energy ----------------------------------------------------------------------------------------------


def energy(run: RunFigures) -> Finding | None:
    """GPU energy per 1,000 generated tokens across the levels: its trend and the most efficient level."""
    points = [
        (lv, lv.gpu.joules_per_1k_output_tokens)
        for lv in run.levels
        if lv.gpu and lv.gpu.joules_per_1k_output_tokens
    ]
    if not points:
        return None
    best_lv, best = min(points, key=lambda p: p[1])
    (first_lv, first), (last_lv, last) = points[0], points[-1]
    change = _pct(last - first, first)
    trend = "flat" if abs(change) < ENERGY_FLAT_PERCENT else ("fell" if change < 0 else "rose")
    figures = (
        *tuple(Figure(f"J per 1k output tokens at level {lv.level}", v, "J") for lv, v in points),
        Figure(f"change from level {first_lv.level} to {last_lv.level}", round(change, 1), "%"),
    )
    detail = f"Energy per 1,000 generated tokens {trend} from level {first_lv.level} to {last_lv.level} ({change:+.1f} %)"
    if trend == "fell":
        detail += ": a fuller batch shares the GPUs' draw (idle draw included) over more tokens."
    elif trend == "rose":
        detail += ": more power went in than tokens came out (queueing, preemption, or power near its limit)."
    else:
        detail += "."
    return Finding(
        "energy",
        Severity.INFO,
        f"Energy per token {trend} with load; most efficient at level {best_lv.level} ({best:.0f} J per 1k tokens)",
        detail,
        figures,
        (best_lv.level,),
    )


# -- errors ----------------------------------------------------------------------------------------------

_HINTS = {
    "timeout": "no complete answer within timeoutSeconds: the server is overloaded or the timeout too short",
    "connection": "no response at all: the server or its Service refused or reset connections",
    "malformed_stream": "answers broken off or not OpenAI-shaped",
    "stream_error": "vLLM sent an error event inside the stream",
    "response_too_large": "an answer beyond the load generator's response limits",
}


def errors(run: RunFigures) -> Finding | None:
    if not run.levels:
        return None
    failed = [lv for lv in run.levels if _errors(lv)]
    total = sum(lv.requests for lv in run.levels)
    if not failed:
        return Finding("errors", Severity.OK, "No request failed", f"All {total} requests succeeded.",
                       (Figure("requests", total),))  # fmt: skip
    kinds: dict[str, int] = {}
    for lv in failed:
        for kind, n in (lv.errors_by_kind or {}).items():
            kinds[kind] = kinds.get(kind, 0) + n
    worst = max(failed, key=lambda lv: _pct(_errors(lv), lv.requests))
    worst_share = _pct(_errors(worst), worst.requests)
    figures = [
        Figure(
            f"failed at level {lv.level}",
            f"{_errors(lv)} of {lv.requests} ({_pct(_errors(lv), lv.requests):.1f} %)",
        )
        for lv in failed
    ]
    figures += [Figure(f"kind {kind}", n) for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1])]
    hints = [
        f"{kind}: {_HINTS.get(kind) or ('HTTP ' + kind[5:] + ' answers from the server' if kind.startswith('http_') else kind)}"
        for kind in sorted(kinds, key=lambda k: -kinds[k])
    ]
    return Finding(
        "errors",
        Severity.PROBLEM if worst_share >= ERROR_PROBLEM_PERCENT else Severity.WARNING,
        f"{sum(_errors(lv) for lv in failed)} of {total} requests failed, from level {failed[0].level} "
        f"(worst {worst_share:.1f} % at level {worst.level})",
        "Failed requests are left out of every latency figure and count against goodput. "
        + "; ".join(hints)
        + ".",
        tuple(figures),
        tuple(lv.level for lv in failed),
    )


RULES: tuple[Callable[[RunFigures], Finding | None], ...] = (
    knee,
    latency_growth,
    client_saturation,
    shard_alignment,
    server_agreement,
    queueing,
    kv_cache,
    preemptions,
    energy,
    errors,
)


def findings(run: RunFigures) -> list[Finding]:
    """Every rule's finding, in rule order (rules with nothing to judge left out)."""
    return [f for rule in RULES if (f := rule(run)) is not None]


def not_judged(run: RunFigures) -> list[str]:
    """Rules that had no figures to judge."""
    return [rule.__name__ for rule in RULES if rule(run) is None]
