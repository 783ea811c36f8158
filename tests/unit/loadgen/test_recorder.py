"""Every per-request metric on hand-built timelines (perf_counter seconds)."""

import pytest

from loadgen.client import Outcome
from loadgen.recorder import LevelRecorder


def streamed(
    sent: float, reads: list[tuple[float, int]], end: float, usage_out: int = -1, usage_in: int = -1
) -> Outcome:
    return Outcome(
        sent=sent,
        first_content=reads[0][0],
        end=end,
        read_times=[t for t, _ in reads],
        read_counts=[n for _, n in reads],
        content_chunks=sum(n for _, n in reads),
        usage_output_tokens=usage_out,
        usage_prompt_tokens=usage_in,
    )


def test_ttft_is_send_to_first_content_and_e2e_send_to_end() -> None:
    rec = LevelRecorder()
    rec.record(
        streamed(10.0, [(10.25, 1), (10.35, 1), (10.45, 1)], 10.5, usage_out=3, usage_in=40), scheduled=10.0
    )
    assert rec.raw.ttft_us == [250_000]
    assert rec.raw.e2e_us == [500_000]
    assert rec.raw.output_tokens == [3]
    assert rec.raw.input_tokens == [40]
    assert rec.raw.schedule_lag_us == [0]


def test_itl_is_the_gaps_between_content_chunks() -> None:
    rec = LevelRecorder()
    rec.record(streamed(0.0, [(0.1, 1), (0.12, 1), (0.15, 1)], 0.16, usage_out=3), scheduled=0.0)
    assert rec.itl.count == 2
    assert rec.itl.sum_ns == 50_000_000  # 20 ms + 30 ms
    assert rec.itl.min == pytest.approx(0.02)
    assert rec.itl.max == pytest.approx(0.03)


def test_chunks_read_together_are_zero_apart() -> None:
    rec = LevelRecorder()
    rec.record(streamed(0.0, [(0.1, 3), (0.2, 1)], 0.2, usage_out=4), scheduled=0.0)
    assert rec.itl.count == 3
    assert rec.itl.to_data().zero_count == 2
    assert rec.itl.sum_ns == 100_000_000


def test_itl_is_normalised_when_chunks_carry_several_tokens() -> None:
    # 3 chunks 40 ms apart carrying 9 tokens: (9-1)/(3-1) = 4 tokens per gap -> 10 ms per token.
    rec = LevelRecorder()
    rec.record(streamed(0.0, [(0.1, 1), (0.14, 1), (0.18, 1)], 0.18, usage_out=9), scheduled=0.0)
    assert rec.itl.count == 2
    assert rec.itl.mean == pytest.approx(0.01)
    assert rec.token_mismatch == 0  # merged chunks: the length (usage) is right


def test_usage_tokens_win_and_missing_usage_falls_back_to_chunks() -> None:
    rec = LevelRecorder()
    rec.record(streamed(0.0, [(0.1, 1), (0.2, 1)], 0.2), scheduled=0.0, target_input_tokens=32)
    assert rec.raw.output_tokens == [2]
    assert rec.raw.input_tokens == [32]
    assert rec.usage_missing == 1
    assert rec.token_mismatch == 0


def test_errors_are_counted_by_kind_and_kept_out_of_latency() -> None:
    rec = LevelRecorder()
    rec.record(Outcome(sent=0.0, end=0.5, error="http_503"), scheduled=0.0)
    rec.record(Outcome(sent=0.0, end=0.5, error="timeout"), scheduled=0.0)
    rec.record(Outcome(sent=0.0, end=0.5, error="http_503"), scheduled=0.0)
    assert rec.errors == {"http_503": 2, "timeout": 1}
    assert rec.requests == 3
    assert len(rec.raw) == 0
    assert rec.itl.count == 0


def test_schedule_lag_is_send_minus_scheduled() -> None:
    rec = LevelRecorder()
    rec.record(streamed(5.003, [(5.1, 1)], 5.1, usage_out=1), scheduled=5.0)
    assert rec.raw.schedule_lag_us == [3000]


def test_an_answer_of_another_length_than_pinned_is_a_mismatch() -> None:
    rec = LevelRecorder()
    three = [(0.1, 1), (0.2, 1), (0.3, 1)]
    rec.record(streamed(0.0, three, 0.3, usage_out=3), scheduled=0.0, requested_output_tokens=3)
    assert rec.token_mismatch == 0
    rec.record(streamed(0.0, three, 0.3, usage_out=3), scheduled=0.0, requested_output_tokens=5)
    assert rec.token_mismatch == 1
    rec.record(streamed(0.0, three, 0.3), scheduled=0.0, requested_output_tokens=5)  # no usage: the chunks
    assert rec.token_mismatch == 2
    whole = LevelRecorder(streamed=False)
    whole.record(Outcome(sent=0.0, first_content=0.3, end=0.3, content_chunks=1), 0.0, 0, 5)
    assert whole.token_mismatch == 0  # not streamed and no usage: nothing to compare with
    whole.record(
        Outcome(sent=0.0, first_content=0.3, end=0.3, content_chunks=1, usage_output_tokens=4), 0.0, 0, 5
    )
    assert whole.token_mismatch == 1


# vLLM under load: 24 tokens in 5 chunks (seen on two busy cores), several tokens per chunk and per read.
MERGED = [(0.1, 1), (0.12, 1), (0.2, 2), (0.3, 1)]


def test_merged_chunks_with_the_right_length_are_no_mismatch() -> None:
    rec = LevelRecorder()
    rec.record(streamed(0.0, MERGED, 0.3, usage_out=24), scheduled=0.0, requested_output_tokens=24)
    rec.record(streamed(0.0, MERGED, 0.3, usage_out=24), scheduled=0.0)  # not pinned
    rec.record(streamed(0.0, MERGED, 0.3, usage_out=5), scheduled=0.0, requested_output_tokens=5)
    assert rec.token_mismatch == 0
    assert rec.raw.output_tokens == [24, 24, 5]


def test_merged_chunks_of_the_wrong_length_are_a_mismatch() -> None:
    rec = LevelRecorder()
    rec.record(streamed(0.0, MERGED, 0.3, usage_out=23), scheduled=0.0, requested_output_tokens=24)
    assert rec.token_mismatch == 1
    rec.record(streamed(0.0, MERGED, 0.3, usage_out=25), scheduled=0.0, requested_output_tokens=24)
    assert rec.token_mismatch == 2


def test_a_usage_below_the_content_chunks_is_a_mismatch_even_unpinned() -> None:
    # Five content chunks carry at least five tokens: a usage of four undercounts.
    rec = LevelRecorder()
    rec.record(streamed(0.0, MERGED, 0.3, usage_out=4), scheduled=0.0)
    assert rec.token_mismatch == 1
    whole = LevelRecorder(streamed=False)  # not streamed: one "chunk", nothing to compare with
    whole.record(Outcome(sent=0.0, first_content=0.3, end=0.3, content_chunks=1, usage_output_tokens=0), 0.0)
    assert whole.token_mismatch == 0


def test_the_turn_of_each_request_is_kept() -> None:
    rec = LevelRecorder()
    for turn in (0, 1, 2):
        rec.record(streamed(0.0, [(0.1, 1)], 0.1, usage_out=1), scheduled=0.0, turn=turn)
    assert rec.raw.turn == [0, 1, 2]
