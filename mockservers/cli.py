"""`llmload-mock` command line: the test servers (mock OpenAI/vLLM server, DCGM stand-in).

The OpenAI server (aiohttp, asyncio, loadgen's event loop) is imported only by its command, so
`llmload-mock dcgm` (standard library only) starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence

from mockservers import dcgm
from mockservers.faults import FAULTS

_EPILOG = """\
examples:
  llmload-mock openai --port 8000 --ttft-ms 80 --itl-ms 15
  llmload-mock openai --batching --step-ms-base 10 --step-ms-per-seq 0.5 --max-running 64
  llmload-mock dcgm --port 9400 --hostname node-a --pod 0=llm/vllm-0/vllm \\
      --load-url http://127.0.0.1:8000/metrics

Once a server accepts connections it prints one JSON line on stdout:
{"event": "mock_server_listening", ...} (openai) or {"event": "mock_dcgm_listening", ...} (dcgm),
with "host" and "port" (the bound one when --port 0 picked a free port).
"""


class _DocstringFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults after each flag's help; the description (a module docstring) as written."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmload-mock",
        description="Test servers for llmload's demo and tests: stand-ins for vLLM and dcgm-exporter. "
        "Not part of the product.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="server", required=True, metavar="{openai,dcgm}")
    _add_openai(sub)
    _add_dcgm(sub)
    return parser


def _add_openai(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mock = sub.add_parser(
        "openai",
        help="mock OpenAI-compatible server shaped like vLLM",
        description="A mock OpenAI-compatible server shaped like vLLM: /v1/completions, "
        "/v1/chat/completions (streamed the way vLLM streams), /v1/models, /tokenize, /health, vLLM's "
        "/metrics, and its own timing truth at GET /mock/truth (POST /mock/reset clears it). "
        "Latency is fixed (--ttft-ms, --itl-ms) or continuous batching like vLLM (--batching).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    mock.add_argument("--host", default="127.0.0.1", help="address to listen on (a pod uses 0.0.0.0)")
    mock.add_argument("--port", type=int, default=8000, help="port (0 picks a free one)")
    mock.add_argument("--model", default="mock-model", help="model name served")
    mock.add_argument("--version", default="0.0.0+mock", help="vLLM version that GET /version reports")
    mock.add_argument("--ttft-ms", type=float, default=0.0, help="time to first token once running")
    mock.add_argument("--itl-ms", type=float, default=0.0, help="time between tokens")
    mock.add_argument(
        "--batching",
        action="store_true",
        help="continuous batching like vLLM (instead of --ttft-ms/--itl-ms): one engine step emits a "
        "token for every running request and lasts --step-ms-base + --step-ms-per-seq x running, plus "
        "the prefill of the requests admitted in it; --max-running is vLLM's max-num-seqs",
    )
    mock.add_argument("--step-ms-base", type=float, default=10.0, help="--batching: fixed cost of a step")
    mock.add_argument(
        "--step-ms-per-seq", type=float, default=0.5, help="--batching: step cost per running request"
    )
    mock.add_argument(
        "--prefill-ms-per-token",
        type=float,
        default=0.0,
        help="--batching: prefill cost per prompt token, added to the step that admits the request",
    )
    mock.add_argument(
        "--default-output-tokens", type=int, default=16, help="tokens when max_tokens is absent"
    )
    mock.add_argument("--max-model-len", type=int, default=8192, help="reported context length")
    mock.add_argument(
        "--max-running", type=int, default=0, help="capacity; beyond it requests queue (0: none)"
    )
    mock.add_argument(
        "--error-rate", type=float, default=0.0, help="share of requests answered with an error"
    )
    mock.add_argument("--error-status", type=int, default=500, help="HTTP status of injected errors")
    mock.add_argument("--cut-rate", type=float, default=0.0, help="share of streams dropped half-way")
    mock.add_argument("--stall-rate", type=float, default=0.0, help="share of streams that pause half-way")
    mock.add_argument("--stall-seconds", type=float, default=5.0, help="length of an injected stall")
    mock.add_argument("--seed", type=int, default=0, help="seed for fault injection")
    mock.add_argument(
        "--fault",
        choices=FAULTS,
        default=None,
        help="misbehave on every --fault-every-th generation request: endless-event (one SSE event, or "
        "an unstreamed body, that never ends: bytes until the client leaves), huge-error (an HTTP 500 "
        "whose body is --fault-bytes long), malformed-chunk (one garbage event after the first token of "
        "an otherwise good stream, a different kind each time; unstreamed: a garbage body), hang (read "
        "the request, never answer)",
    )
    mock.add_argument(
        "--fault-every", type=int, default=1, help="--fault hits requests N, 2N, 3N, ... (1: every one)"
    )
    mock.add_argument("--fault-bytes", type=int, default=300_000_000, help="huge-error: body length")
    mock.add_argument(
        "--legacy-cache-metric", action="store_true", help="expose vllm:gpu_cache_usage_perc (older vLLM)"
    )
    mock.add_argument("--no-truth", action="store_true", help="do not record server-side timestamps")
    mock.add_argument("--no-tokenize", action="store_true", help="serve no /tokenize (like non-vLLM servers)")
    mock.add_argument(
        "--eos-after-tokens",
        type=int,
        default=0,
        help="the mock model ends its answer after this many tokens unless a request sets ignore_eos or "
        "min_tokens above it (0: never; every answer is max_tokens long)",
    )
    mock.add_argument(
        "--prefix-cache",
        action="store_true",
        help="model vLLM's prefix cache (16-token blocks) and count its hits in /metrics",
    )


def _add_dcgm(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "dcgm",
        help="stand-in for NVIDIA's dcgm-exporter",
        description=dcgm.__doc__,
        formatter_class=_DocstringFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (a pod uses 0.0.0.0)")
    p.add_argument("--port", type=int, default=9400, help="port (dcgm-exporter's 9400; 0 picks a free one)")
    p.add_argument("--gpus", type=int, default=1, help="number of GPUs")
    p.add_argument("--hostname", default="mock-node", help="Hostname label (dcgm-exporter: the node name)")
    p.add_argument("--model-name", default="NVIDIA H100 80GB HBM3", help="modelName label")
    p.add_argument("--driver-version", default="550.54.15", help="DCGM_FI_DRIVER_VERSION label")
    p.add_argument("--pod", action="append", default=[], help="INDEX=NAMESPACE/POD/CONTAINER (repeatable)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--schedule", help="load steps UNIX_SECONDS:LOAD,... (load before the first: 0)")
    source.add_argument("--load-url", help="poll vllm:num_requests_running from this /metrics URL")
    source.add_argument("--constant-load", type=float, default=0.0, help="a fixed load")
    p.add_argument("--poll-interval", type=float, default=0.2, help="seconds between polls of --load-url")
    p.add_argument("--profiling", action="store_true", help="also export DCGM_FI_PROF_* (DCP) metrics")
    for name, default, text in (
        ("idle-watts", 60.0, "power at load 0, W"),
        ("watts-per-load", 40.0, "power added per unit of load, W"),
        ("max-watts", 700.0, "power cap, W"),
        ("util-per-load", 20.0, "utilisation per unit of load, %% (capped at 100)"),
    ):
        p.add_argument(f"--{name}", type=float, default=default, help=text)


def _cmd_openai(args: argparse.Namespace) -> int:
    from loadgen.eventloop import run_async
    from mockservers.latency import BatchingLatency, FixedLatency, LatencyModel
    from mockservers.openai_server import MockConfig, serve_forever

    if args.batching and (args.ttft_ms or args.itl_ms):
        print("llmload-mock openai: --ttft-ms/--itl-ms are the fixed model's; with --batching use --step-ms-*",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.fault_every < 1 or args.fault_bytes < 0:
        print("llmload-mock openai: --fault-every must be >= 1 and --fault-bytes >= 0", file=sys.stderr)
        return 2
    if min(args.step_ms_base, args.step_ms_per_seq, args.prefill_ms_per_token) < 0:
        print("llmload-mock openai: --step-ms-base, --step-ms-per-seq and --prefill-ms-per-token must be >= 0",
              file=sys.stderr)  # fmt: skip
        return 2

    config = MockConfig(
        host=args.host,
        port=args.port,
        model=args.model,
        version=args.version,
        max_model_len=args.max_model_len,
        default_output_tokens=args.default_output_tokens,
        max_running=args.max_running,
        error_rate=args.error_rate,
        error_status=args.error_status,
        cut_rate=args.cut_rate,
        stall_rate=args.stall_rate,
        stall_seconds=args.stall_seconds,
        seed=args.seed,
        legacy_cache_metric=args.legacy_cache_metric,
        record_truth=not args.no_truth,
        tokenize_endpoint=not args.no_tokenize,
        eos_after_tokens=args.eos_after_tokens,
        prefix_cache=args.prefix_cache,
        fault=args.fault,
        fault_every=args.fault_every,
        fault_bytes=args.fault_bytes,
    )
    latency: LatencyModel = FixedLatency(args.ttft_ms / 1000.0, args.itl_ms / 1000.0)
    if args.batching:
        latency = BatchingLatency(
            args.step_ms_base / 1000.0, args.step_ms_per_seq / 1000.0, args.prefill_ms_per_token / 1000.0
        )
    with contextlib.suppress(KeyboardInterrupt):
        run_async(serve_forever(config, latency))
    return 0


def _cmd_dcgm(args: argparse.Namespace) -> int:
    exporter = dcgm.make_exporter(args)
    return dcgm.serve_forever(exporter, args.host, args.port, args.load_url, args.poll_interval)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"openai": _cmd_openai, "dcgm": _cmd_dcgm}
    return commands[args.server](args)


if __name__ == "__main__":
    sys.exit(main())
