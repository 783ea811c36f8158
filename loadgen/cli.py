"""`loadgen` command line: run, merge."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from loadgen.compact import FORMAT_TAG, decode_compact, encode_compact
from loadgen.config import DEFAULT_MAX_IN_FLIGHT, ConfigError, RunConfig, build_config, load_config_file
from loadgen.eventloop import run_async
from loadgen.merge import merge_results
from loadgen.progress import FanOutReporter, JsonLinesReporter, ProgressBar, ProgressReporter
from loadgen.result import RunResult
from loadgen.table import render_table

if TYPE_CHECKING:
    from loadgen.runner import LevelGate

# (flag, run-config path, type, help). Every RunConfig field has a flag; `--config` takes the same schema.
_RUN_FLAGS: list[tuple[str, tuple[str, ...], Any, str]] = [
    ("--target-url", ("target_url",), str, "base URL of the OpenAI-compatible server, e.g. http://127.0.0.1:8000"),
    ("--model", ("model",), str, "model name (unset: the first model of /v1/models)"),
    ("--api", ("api",), str, "API shape"),
    ("--api-key-env", ("api_key_env",), str, "environment variable holding the API key"),
    ("--api-key-file", ("api_key_file",), str, "file holding the API key (e.g. a mounted Secret)"),
    ("--load-mode", ("load_mode",), str, "concurrency: closed loop, N users; rate: open loop, requests/s"),
    ("--levels", ("levels",), str, "comma-separated load levels swept in order, e.g. 1,8,32"),
    ("--arrival", ("arrival",), str, "rate mode: arrival process"),
    ("--max-in-flight", ("max_in_flight",), int,
     f"rate mode: cap on outstanding requests (late sends are recorded; unset: {DEFAULT_MAX_IN_FLIGHT} per process)"),
    ("--requests-per-level", ("requests_per_level",), int, "measured requests per level"),
    ("--level-duration-seconds", ("level_duration_seconds",), float, "length of each level (ends at the first bound)"),
    ("--ramp-up-seconds", ("ramp_up_seconds",), float, "concurrency mode: start users evenly over this long"),
    ("--warmup-requests", ("warmup_requests",), int, "requests sent before the first level, not counted"),
    ("--request-timeout-seconds", ("request_timeout_seconds",), float, "per-request timeout"),
    ("--slo-ttft-ms", ("slo", "ttft_ms"), float, "SLO: time to first token, ms"),
    ("--slo-tpot-ms", ("slo", "tpot_ms"), float, "SLO: time per output token, ms"),
    ("--slo-e2e-ms", ("slo", "e2e_ms"), float, "SLO: end-to-end latency, ms"),
    ("--slo-percentile", ("slo", "percentile"), float, "percentile the level's SLO verdict uses"),
    ("--input-tokens", ("workload", "input_tokens", "mean"), int, "prompt tokens (fixed length, or normal's mean)"),
    ("--input-tokens-distribution", ("workload", "input_tokens", "distribution"), str, "shape of the prompt-length distribution"),
    ("--input-tokens-min", ("workload", "input_tokens", "min"), int, "uniform: lower bound; normal: clip below"),
    ("--input-tokens-max", ("workload", "input_tokens", "max"), int, "uniform: upper bound; normal: clip above"),
    ("--input-tokens-stddev", ("workload", "input_tokens", "stddev"), float, "normal: standard deviation"),
    ("--output-tokens", ("workload", "output_tokens"), int, "output tokens per request"),
    ("--dataset", ("workload", "dataset_path"), str, "ShareGPT-format JSON file to take prompts from"),
    ("--max-turns", ("workload", "max_turns"), int,
     "with --dataset and --api chat: play whole conversations, up to this many turns each"),
    ("--shared-prefix-tokens", ("workload", "shared_prefix_tokens"), int, "common prefix on every prompt"),
    ("--seed", ("seed",), int, "seed for prompts and arrivals"),
    ("--saturation-schedule-lag-p99-ms", ("saturation", "schedule_lag_p99_ms"), float,
     "flag the level client-saturated above this schedule lag p99"),
    ("--saturation-loop-lag-p50-ms", ("saturation", "loop_lag_p50_ms"), float,
     "... above this event-loop lag p50"),
    ("--saturation-loop-lag-p99-ms", ("saturation", "loop_lag_p99_ms"), float,
     "... above this event-loop lag p99"),
    ("--max-body-bytes", ("response_limits", "max_body_bytes"), int,
     "a longer response body fails its request (response_too_large); unset: 1 MiB + 4 KiB per output "
     "token streamed, 1 MiB + 256 B per token not"),
    ("--max-event-bytes", ("response_limits", "max_event_bytes"), int,
     "a longer SSE event (or line) fails its request (response_too_large)"),
    ("--max-error-body-bytes", ("response_limits", "max_error_body_bytes"), int,
     "bytes read of an error answer's body; the rest is left unread"),
    ("--shard-index", ("shard_index",), int, "this shard's index when the load is split across pods"),
    ("--shard-count", ("shard_count",), int, "number of shards the load is split across"),
]  # fmt: skip

_RUN_SWITCHES: list[tuple[str, tuple[str, ...], str]] = [
    ("--no-stream", ("stream",), "use non-streaming requests (only E2E is measured: no TTFT, ITL or TPOT)"),
    ("--no-pin-output-length", ("workload", "pin_output_length"), "do not send min_tokens / ignore_eos"),
    ("--no-calibrate", ("workload", "calibrate"), "do not fit prompt length to the server's tokenizer"),
]


_EPILOG = """\
examples:
  loadgen run --target-url http://127.0.0.1:8000 --levels 1,8,32 --requests-per-level 200 \\
      --input-tokens 512 --output-tokens 128 --slo-ttft-ms 200 --output result.json
  loadgen merge shard-0.json shard-1.json --output merged.json
"""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loadgen",
        description="Load generator for OpenAI-compatible LLM servers (vLLM and others): sweeps load "
        "levels and reports TTFT, TPOT, ITL, end-to-end latency, throughput and goodput per level.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="run a load test",
        description="Run a load test. Flags override the same fields of --config.",
    )
    run.add_argument(
        "--config", type=Path, help="YAML or JSON file with run-config fields (the operator's schema)"
    )
    for flag, path, kind, text in _RUN_FLAGS:
        default = _schema_default(path)
        shown = f"{text} (default: {default})" if default is not None else text
        run.add_argument(flag, type=kind, default=None, choices=_CHOICES.get(flag), help=shown)
    for flag, _, text in _RUN_SWITCHES:
        run.add_argument(flag, action="store_true", default=None, help=text)
    run.add_argument(
        "--dataset-output-tokens",
        action="store_true",
        help="with --dataset: ask each request for the length of the dataset's answer to it",
    )
    run.add_argument("--workers", type=int, default=1, help="processes to split this run's load across")
    run.add_argument("--output", type=Path, help="write the result (JSON, with per-level summaries) here")
    run.add_argument("--compact-output", type=Path, help="write the compact (zlib+base64) result here")
    run.add_argument(
        "--report-configmap",
        metavar="NAME",
        help="inside a pod: mirror progress and the compact result into this ConfigMap",
    )
    run.add_argument(
        "--start-barrier",
        action="store_true",
        help="with --report-configmap: start every level when the operator's start signal says (shards "
        "of one run start together)",
    )
    run.add_argument(
        "--start-barrier-timeout-seconds",
        type=float,
        default=None,
        help="give up when no start signal comes this long after being ready for a level (default 600)",
    )
    run.add_argument(
        "--log-format",
        choices=("auto", "text", "json"),
        default="auto",
        help="text: progress bar and table; json: JSON lines; auto: text on a terminal",
    )

    merge = sub.add_parser("merge", help="merge shard results exactly (JSON or compact files)")
    merge.add_argument("inputs", nargs="+", type=Path)
    merge.add_argument("--output", type=Path, required=True)
    return parser


_CHOICES = {
    "--api": ("chat", "completions"),
    "--load-mode": ("concurrency", "rate"),
    "--arrival": ("constant", "poisson"),
    "--input-tokens-distribution": ("fixed", "uniform", "normal"),
}


def _schema_default(path: tuple[str, ...]) -> Any:
    """The run-config schema's default for a field, so --help shows the real one."""
    field = RunConfig.model_fields[path[0]]
    if field.is_required():
        return None
    value = field.get_default(call_default_factory=True)
    for name in path[1:]:
        value = getattr(value, name)
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return value


def config_from_args(args: argparse.Namespace) -> RunConfig:
    data: dict[str, Any] = load_config_file(args.config) if args.config else {}
    overrides: dict[str, Any] = {}
    for flag, path, _, _ in _RUN_FLAGS:
        value = getattr(args, _dest(flag))
        if value is not None:
            if path == ("levels",):
                value = _parse_levels(value)
            _set_path(overrides, path, value)
    for flag, path, _ in _RUN_SWITCHES:
        if getattr(args, _dest(flag)):
            _set_path(overrides, path, False)
    if args.dataset_output_tokens:
        _set_path(overrides, ("workload", "dataset_output_tokens"), True)
    return build_config(_deep_merge(data, overrides))


def _parse_levels(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--levels {text!r}: expected comma-separated integers, e.g. 1,8,32") from None


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _set_path(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def result_document(result: RunResult) -> dict[str, Any]:
    """The JSON written by --output: the result plus per-level summaries for people."""
    doc = result.model_dump(mode="json")
    doc["summary"] = [s.model_dump(mode="json") for s in result.summaries()]
    return doc


def read_result(path: Path) -> RunResult:
    text = path.read_text().strip()
    if text.startswith(("lg1:", FORMAT_TAG)):
        return decode_compact(text)
    return RunResult.model_validate(json.loads(text))


def _cmd_run(args: argparse.Namespace) -> int:
    as_text = args.log_format == "text" or (args.log_format == "auto" and sys.stdout.isatty())
    reporters: list[ProgressReporter] = [ProgressBar() if as_text else JsonLinesReporter()]
    configmap = None
    gate: LevelGate | None = None
    if args.report_configmap:
        # Imported only when asked for: the load generator itself never needs Kubernetes.
        from loadgen.k8s_report import (
            ApiEndpoint,
            ConfigMapReporter,
            ConfigMapWriter,
            ShardRestartedError,
            claim,
        )

        writer = ConfigMapWriter(ApiEndpoint.in_cluster(), args.report_configmap)
        try:
            claim(writer)
        except ShardRestartedError as exc:
            print(f"loadgen: {exc}", file=sys.stderr)
            writer.patch({"error": str(exc)})
            return 3
        configmap = ConfigMapReporter(writer)
        reporters.append(configmap)
        if args.start_barrier:
            from loadgen.barrier import DEFAULT_TIMEOUT_SECONDS, StartBarrier

            timeout = args.start_barrier_timeout_seconds or DEFAULT_TIMEOUT_SECONDS
            gate = StartBarrier(writer, timeout_seconds=timeout)
    elif args.start_barrier:
        print(
            "loadgen: --start-barrier needs --report-configmap (the ConfigMap it waits on)", file=sys.stderr
        )
        return 2
    if gate is not None and args.workers > 1:
        print(
            "loadgen: --start-barrier runs with one worker process per shard (drop --workers)",
            file=sys.stderr,
        )
        return 2
    try:
        config = config_from_args(args)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"loadgen: {exc}", file=sys.stderr)
        if configmap is not None:
            configmap.report_error(str(exc))
        return 2
    reporter = FanOutReporter(reporters)
    # In JSON mode the reporter already logs warnings as JSON lines; keep stderr for real failures.
    logging.basicConfig(
        level=logging.WARNING if as_text else logging.ERROR, format="%(levelname)s %(message)s"
    )
    try:
        result = _execute(config, args.workers, reporter, gate)
    except (OSError, RuntimeError, ValueError, aiohttp.ClientError) as exc:
        message = f"{type(exc).__name__}: {exc}"
        print(f"loadgen: run failed: {message}", file=sys.stderr)
        if configmap is not None:
            configmap.report_error(message)
        return 1
    if args.output:
        args.output.write_text(json.dumps(result_document(result), indent=1))
    if args.compact_output:
        args.compact_output.write_text(encode_compact(result))
    if as_text:
        print(render_table(result))
    return 0


def _execute(
    config: RunConfig, workers: int, reporter: ProgressReporter, gate: LevelGate | None = None
) -> RunResult:
    if workers > 1:
        from loadgen.workers import run_workers

        result = run_workers(config, workers, reporter)
        for level in result.levels:
            reporter.on_level_end(level)
        reporter.on_finished(result)
        return result
    from loadgen.runner import run

    return run_async(run(config, reporter, level_gate=gate))


def _cmd_merge(args: argparse.Namespace) -> int:
    merged = merge_results([read_result(p) for p in args.inputs])
    args.output.write_text(json.dumps(result_document(merged), indent=1))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    commands = {"run": _cmd_run, "merge": _cmd_merge}
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
