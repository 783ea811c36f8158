"""The one run-config schema shared by the CLI and the operator.

Everything a run needs is here, so a YAML file, CLI flags and the operator's
Job all describe a run the same way. Secrets are never stored in the model:
the API key is read from an environment variable or a file at run time.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from loadgen.credentials import refuse_service_account_token
from loadgen.distribution import DistributionProblem, distribution_problems, shared_prefix_problems

LoadMode = Literal["concurrency", "rate"]
Arrival = Literal["constant", "poisson"]
Api = Literal["chat", "completions"]
Distribution = Literal["fixed", "uniform", "normal"]


class _Strict(BaseModel):
    # Unknown keys are almost always typos in a YAML file; reject them loudly.
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputTokens(_Strict):
    """Distribution of synthetic prompt lengths, in server tokens (rules: `loadgen.distribution`)."""

    distribution: Distribution = "fixed"
    mean: int | None = Field(None, ge=1, description="fixed: the length; normal: the mean")
    min: int | None = Field(None, ge=1, description="uniform: lower bound; normal: clip below")
    max: int | None = Field(None, ge=1, description="uniform: upper bound; normal: clip above")
    stddev: float | None = Field(None, ge=0, description="normal: standard deviation, above 0")

    @model_validator(mode="after")
    def _check_parameters(self) -> Self:
        _raise_problems(distribution_problems(self))
        return self


class OutputTokens(InputTokens):
    """Distribution of requested answer lengths, in server tokens; each request asks for its own draw
    (max_tokens, pinned with min_tokens + ignore_eos). Same rules as `InputTokens`."""


def _length_kind(value: object) -> str:
    return "number" if isinstance(value, int) else "distribution"


# A number, or a distribution: told apart by shape, so an error names only the one that was meant.
OutputLength = Annotated[
    Annotated[int, Field(ge=1), Tag("number")] | Annotated[OutputTokens, Tag("distribution")],
    Discriminator(_length_kind),
]


def _raise_problems(problems: list[DistributionProblem]) -> None:
    if problems:
        raise ValueError("; ".join(p.message for p in problems))


class Workload(_Strict):
    input_tokens: InputTokens = InputTokens(mean=256)
    output_tokens: OutputLength = Field(
        128,
        description="answer length: a number (every request), or a distribution drawn per request; sent as "
        "max_tokens, pinned with min_tokens + ignore_eos",
    )
    dataset_path: Path | None = Field(
        None, description="ShareGPT-format JSON; prompts are taken from it instead of synthetic text"
    )
    dataset_output_tokens: bool = Field(
        False,
        description="with dataset_path: each request asks for as many tokens as the dataset's answer to its "
        "prompt has (counted with the server's /tokenize), instead of output_tokens",
    )
    max_turns: int | None = Field(
        None,
        ge=1,
        le=64,
        description="with dataset_path and api chat: each user plays whole conversations, up to this many "
        "turns each, every turn sent with the conversation so far (the dataset's own answers as the "
        "assistant turns); unset: single requests of the first human turn",
    )
    shared_prefix_tokens: int = Field(
        0, ge=0, description="tokens of a common prefix on every prompt; synthetic prompts must be longer"
    )
    pin_output_length: bool = Field(
        True, description="send vLLM's min_tokens and ignore_eos so every reply is as long as requested"
    )
    calibrate: bool = Field(True, description="fit prompt length to the server's tokenizer")

    @model_validator(mode="after")
    def _check_prefix(self) -> Self:
        if self.dataset_path is None:
            _raise_problems(shared_prefix_problems(self.shared_prefix_tokens, self.input_tokens))
            if self.dataset_output_tokens:
                raise ValueError(
                    "dataset_output_tokens needs dataset_path (the answers' lengths come from it)"
                )
            if self.max_turns is not None:
                raise ValueError("max_turns needs dataset_path (the conversations come from it)")
        return self

    def largest_output_tokens(self) -> int:
        """The most tokens any request asks for without a dataset (what a response may need room for)."""
        return largest_length(self.output_tokens)


def largest_length(tokens: int | InputTokens) -> int:
    if isinstance(tokens, int):
        return tokens
    if tokens.max is not None:
        return tokens.max
    if tokens.distribution == "fixed":
        assert tokens.mean is not None
        return tokens.mean
    # Normal without max: a draw beyond 8 standard deviations is as good as impossible.
    assert tokens.mean is not None
    assert tokens.stddev is not None
    return math.ceil(tokens.mean + 8 * tokens.stddev)


class Slo(_Strict):
    """Per-request thresholds (goodput) and the percentile the level verdict uses."""

    ttft_ms: float | None = Field(None, gt=0)
    tpot_ms: float | None = Field(None, gt=0)
    e2e_ms: float | None = Field(None, gt=0)
    percentile: float = Field(99.0, gt=0, le=100)


class SaturationThresholds(_Strict):
    """Above these the client, not the server, may be what is measured."""

    schedule_lag_p99_ms: float = Field(10.0, gt=0, description="rate mode: send later than scheduled")
    loop_lag_p50_ms: float = Field(2.0, gt=0, description="event loop late by this much at the median")
    loop_lag_p99_ms: float = Field(20.0, gt=0, description="event loop late by this much at p99")


KIB = 1024
MIB = 1024 * KIB
# The response-size budget a request gets when `ResponseLimits.max_body_bytes` is unset: this much, plus
# so much per token it asks for (`max_tokens`). A vLLM stream spends 150-500 bytes per token (one chunk
# each: id, model name, choices; more with continuous usage stats), a body not streamed 2-30 (the text,
# JSON-escaped); both budgets are more than 8x that, and the slack covers the envelope and usage.
BODY_SLACK_BYTES = MIB
STREAM_BYTES_PER_TOKEN = 4 * KIB
WHOLE_BYTES_PER_TOKEN = 256


class ResponseLimits(_Strict):
    """How much of one response the load generator reads or holds, so no server can exhaust its memory.

    A response beyond a limit fails its own request with error `response_too_large`; the run goes on.
    The defaults are far above anything vLLM sends for the requests loadgen makes (no logprobs, no echo).
    """

    max_body_bytes: int | None = Field(
        None,
        ge=KIB,
        description="bytes of one response body, streamed or not; unset: 1 MiB + 4 KiB per requested "
        "token (max_tokens) when streaming, 1 MiB + 256 bytes per token when not. Not streamed, the "
        "body is held whole, so this also bounds the memory of a request",
    )
    max_event_bytes: int = Field(
        MIB,
        ge=KIB,
        description="bytes of one SSE event, and so of any line in it: what a stream holds while it waits "
        "for the event's end. vLLM's events for loadgen's requests are 150-500 bytes; even a chunk that "
        "coalesces the tokens of a client that fell behind stays far below 1 MiB",
    )
    max_error_body_bytes: int = Field(
        4 * KIB,
        ge=0,
        description="bytes read of a non-200 answer's body (the error's message); a longer body is not "
        "read, its connection is closed instead of reused",
    )

    def body_bytes(self, max_tokens: int, stream: bool) -> int:
        """The body budget of a request asking for `max_tokens` tokens."""
        if self.max_body_bytes is not None:
            return self.max_body_bytes
        per_token = STREAM_BYTES_PER_TOKEN if stream else WHOLE_BYTES_PER_TOKEN
        return BODY_SLACK_BYTES + per_token * max_tokens


# Rate mode's cap on outstanding requests per load-generator process when `max_in_flight` is unset.
DEFAULT_MAX_IN_FLIGHT = 1024


class RunConfig(_Strict):
    target_url: str = Field(description="base URL of the server, e.g. http://127.0.0.1:8000")
    model: str | None = Field(None, description="model name; discovered from /v1/models when unset")
    api: Api = "completions"
    stream: bool = True
    api_key_env: str | None = Field(None, description="name of an environment variable holding the key")
    api_key_file: Path | None = Field(None, description="file holding the key (e.g. a mounted Secret)")

    load_mode: LoadMode = "concurrency"
    levels: list[int] = Field(default_factory=lambda: [1], min_length=1)
    arrival: Arrival = "poisson"
    max_in_flight: int | None = Field(
        None,
        ge=1,
        description="rate mode: cap on outstanding requests, split across shards; unset: 1,024 per "
        "load-generator process (shard or worker). A level that reaches it is flagged client-saturated",
    )
    requests_per_level: int | None = Field(None, ge=1)
    level_duration_seconds: float | None = Field(None, gt=0)
    ramp_up_seconds: float = Field(
        0.0, ge=0, description="concurrency mode: start the users evenly over this long, not all at once"
    )
    warmup_requests: int = Field(0, ge=0)
    request_timeout_seconds: float = Field(600.0, gt=0)

    slo: Slo = Slo()
    workload: Workload = Workload()
    seed: int = 0
    saturation: SaturationThresholds = SaturationThresholds()
    response_limits: ResponseLimits = ResponseLimits()

    shard_index: int = Field(0, ge=0)
    shard_count: int = Field(1, ge=1)

    @field_validator("target_url")
    @classmethod
    def _check_url(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} needs a scheme, e.g. http://127.0.0.1:8000")
        return url

    @field_validator("levels")
    @classmethod
    def _check_levels(cls, levels: list[int]) -> list[int]:
        if any(level < 1 for level in levels):
            raise ValueError(f"levels must all be >= 1 (got {levels})")
        return levels

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.requests_per_level is None and self.level_duration_seconds is None:
            raise ValueError(
                "set requests_per_level or level_duration_seconds (or both: the level ends at the first)"
            )
        if self.shard_index >= self.shard_count:
            raise ValueError(f"shard_index {self.shard_index} must be below shard_count {self.shard_count}")
        if self.api_key_env is not None and self.api_key_file is not None:
            raise ValueError("set api_key_env or api_key_file, not both")
        if self.max_in_flight is not None and self.load_mode != "rate":
            raise ValueError("max_in_flight only applies to load_mode: rate")
        if self.workload.max_turns is not None and self.api != "chat":
            raise ValueError("max_turns (multi-turn conversations) needs api: chat; completions has no turns")
        if self.workload.max_turns is not None and self.load_mode != "concurrency":
            raise ValueError(
                "max_turns needs load_mode: concurrency (a turn is sent when the last one is answered)"
            )
        return self

    @property
    def base_url(self) -> str:
        return self.target_url.rstrip("/")

    def resolve_api_key(self) -> str | None:
        """Read the key at run time; it is never part of the config's data."""
        if self.api_key_env is not None:
            value = os.environ.get(self.api_key_env)
            if value is None:
                raise ValueError(f"environment variable {self.api_key_env} (api_key_env) is not set")
            return refuse_service_account_token(value.strip(), self.api_key_env)
        if self.api_key_file is not None:
            return refuse_service_account_token(self.api_key_file.read_text().strip(), str(self.api_key_file))
        return None

    def for_shard(self, index: int, count: int) -> RunConfig:
        """Sub-divide this config's share into `count` parts and return part `index`.

        Composes: a shard's config split again (for --workers) is the same as a
        split into shard_count*count parts with index shard_index*count+index.
        """
        total = self.shard_count * count
        return self.model_copy(update={"shard_index": self.shard_index * count + index, "shard_count": total})

    def dump_public(self) -> dict[str, Any]:
        """The config as plain data, safe to log and to store in a result."""
        return self.model_dump(mode="json")


def split_evenly(total: int, index: int, count: int) -> int:
    """Share `index` of `total` split into `count` parts.

    Every part gets total // count and the first total % count parts get one
    more, so the shares always add up to `total` exactly.
    """
    base, remainder = divmod(total, count)
    return base + (1 if index < remainder else 0)


def shard_seed(seed: int, index: int, count: int) -> int:
    """A seed per shard that is stable across Python versions and processes."""
    if count == 1:
        return seed
    digest = hashlib.blake2b(f"{seed}/{index}/{count}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


class ConfigError(ValueError):
    """A run config that cannot be used; the message says what to change."""


def load_config_file(path: Path) -> dict[str, Any]:
    text = path.read_text()
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of run-config fields at the top level")
    return data


def build_config(data: dict[str, Any]) -> RunConfig:
    """Validate plain data into a RunConfig, with messages a person can act on."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from None


def format_validation_error(exc: ValidationError) -> str:
    lines = ["invalid run config:"]
    for err in exc.errors():
        where = ".".join(str(part) for part in err["loc"]) or "(config)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see `loadgen run --help`)"
        elif err["type"] == "missing":
            message = "required field is missing"
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)
