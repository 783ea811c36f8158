"""Turns request timelines into the per-level raw data and ITL histogram (pure)."""

from __future__ import annotations

from loadgen.client import Outcome
from loadgen.histogram import LogHistogram
from loadgen.result import LevelRaw


class LevelRecorder:
    """Accumulates one level's outcomes; keeps only what the result needs."""

    def __init__(self, streamed: bool = True) -> None:
        self.streamed = streamed
        self.raw = LevelRaw()
        self.itl = LogHistogram()
        self.errors: dict[str, int] = {}
        self.requests = 0
        self.token_mismatch = 0
        self.usage_missing = 0
        self.last_end = 0.0
        self.busy_seconds = 0.0  # every request's end - sent, failed ones too: the concurrency carried

    def record(
        self,
        out: Outcome,
        scheduled: float,
        target_input_tokens: int = 0,
        requested_output_tokens: int = 0,
        turn: int = 0,
    ) -> None:
        """Add one finished request; `scheduled` is its planned send time (= sent when closed loop).

        `requested_output_tokens` is the length the request was pinned to (0: not pinned). The answer
        counts as a token mismatch when its length is wrong (`length_is_wrong`)."""
        self.requests += 1
        self.busy_seconds += max(0.0, out.end - out.sent)
        if out.end > self.last_end:
            self.last_end = out.end
        if out.error is not None:
            self.errors[out.error] = self.errors.get(out.error, 0) + 1
            return
        chunks = out.content_chunks
        if out.usage_output_tokens >= 0:
            output_tokens = out.usage_output_tokens
        else:
            output_tokens = chunks
            self.usage_missing += 1
        self.token_mismatch += length_is_wrong(out, self.streamed, requested_output_tokens)
        add_itl_samples(self.itl, out.read_times, out.read_counts, chunks, output_tokens)
        raw = self.raw
        raw.ttft_us.append(round((out.first_content - out.sent) * 1e6))
        raw.e2e_us.append(round((out.end - out.sent) * 1e6))
        raw.output_tokens.append(output_tokens)
        raw.input_tokens.append(
            out.usage_prompt_tokens if out.usage_prompt_tokens >= 0 else target_input_tokens
        )
        raw.schedule_lag_us.append(max(0, round((out.sent - scheduled) * 1e6)))
        raw.turn.append(turn)


def length_is_wrong(out: Outcome, streamed: bool, requested_output_tokens: int) -> bool:
    """True when an answer's length is known to be wrong (docs/metrics.md, `token_mismatch_count`):
    - pinned to N tokens, its length is not N: usage.completion_tokens, or without usage (streamed) its
      content chunks; not streamed and without usage there is nothing to count;
    - streamed with usage, fewer tokens than content chunks: every content chunk carries at least one
      token, so that usage undercounts.
    More tokens than chunks is no mismatch: a server merges several tokens into one chunk when its
    output falls behind (vLLM does under load)."""
    chunks = out.content_chunks
    has_usage = out.usage_output_tokens >= 0
    if streamed and has_usage and out.usage_output_tokens < chunks:
        return True
    if not requested_output_tokens or not (has_usage or streamed):
        return False
    length = out.usage_output_tokens if has_usage else chunks
    return length != requested_output_tokens


def add_itl_samples(
    hist: LogHistogram, read_times: list[float], read_counts: list[int], chunks: int, output_tokens: int
) -> None:
    """One sample per gap between consecutive content chunks.

    Chunks that arrived in the same read are 0 s apart. When the server's
    token count exceeds the chunks seen (chunks carrying several tokens), each
    gap is divided by the mean tokens per gap, (tokens - 1) / (chunks - 1), so
    the mean ITL of a request equals (last chunk - first chunk) / (tokens - 1).
    """
    if chunks < 2:
        return
    scale = (chunks - 1) / (output_tokens - 1) if output_tokens > chunks else 1.0
    same_read = read_counts[0] - 1
    previous = read_times[0]
    for i in range(1, len(read_times)):
        now = read_times[i]
        hist.add((now - previous) * scale)
        previous = now
        same_read += read_counts[i] - 1
    if same_read:
        hist.add(0.0, same_read)
