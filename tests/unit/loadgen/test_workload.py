import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from loadgen.config import ConfigError, InputTokens, OutputTokens, build_config, largest_length
from loadgen.workload import (
    PromptSource,
    TokenFit,
    answered,
    fit_line,
    load_conversations,
    load_sharegpt,
    sample_input_tokens,
    sample_output_tokens,
)

CONFIG = build_config(
    {"target_url": "http://127.0.0.1:9", "requests_per_level": 1, "workload": {"output_tokens": 77}}
)


def test_fit_recovers_a_linear_tokenizer() -> None:
    slope, intercept = fit_line([(64, 64 * 1.3 + 7), (512, 512 * 1.3 + 7)])
    assert slope == pytest.approx(1.3)
    assert intercept == pytest.approx(7)
    assert TokenFit(1.3, 7).words_for(137) == 100


def test_input_token_distributions_stay_in_bounds() -> None:
    rng = random.Random(1)
    uniform = InputTokens(distribution="uniform", min=10, max=20)
    assert {sample_input_tokens(uniform, rng) for _ in range(500)} == set(range(10, 21))
    normal = InputTokens(distribution="normal", mean=100, stddev=30, min=80, max=110)
    values = [sample_input_tokens(normal, rng) for _ in range(500)]
    assert min(values) == 80
    assert max(values) == 110


def test_body_pins_output_length_and_asks_for_usage() -> None:
    source = PromptSource(CONFIG, "m", random.Random(0))
    body = json.loads(source.body("hi"))
    assert body["max_tokens"] == body["min_tokens"] == 77
    assert body["ignore_eos"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["prompt"] == "hi"
    chat = PromptSource(
        build_config({**CONFIG.model_dump(), "api": "chat", "stream": False}), "m", random.Random(0)
    )
    chat_body = json.loads(chat.body("hi"))
    assert chat_body["messages"] == [{"role": "user", "content": "hi"}]
    assert "stream_options" not in chat_body


def test_prompts_are_unique_sized_and_share_the_prefix() -> None:
    config = build_config(
        {**CONFIG.model_dump(), "workload": {"shared_prefix_tokens": 20, "input_tokens": {"mean": 120}}}
    )
    source = PromptSource(config, "m", random.Random(0))
    (a, target), (b, _) = source.next_prompt(), source.next_prompt()
    assert target == 120
    assert a != b
    assert a.split("\n")[0] == b.split("\n")[0]
    assert len(a.split()) == 120  # 1 token per word before calibration: 20 prefix + head + 99


def test_sharegpt_takes_the_first_human_turn(tmp_path: Path) -> None:
    path = tmp_path / "sharegpt.json"
    path.write_text(
        json.dumps(
            [
                {"conversations": [{"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"}]},
                {"conversations": [{"from": "gpt", "value": "only"}]},
                {"id": "no conversations"},
            ]
        )
    )
    assert load_sharegpt(path) == ["q1"]
    path.write_text("{}")
    with pytest.raises(ValueError, match="JSON list"):
        load_sharegpt(path)


def test_each_request_asks_for_its_own_drawn_length() -> None:
    config = build_config(
        {
            **CONFIG.model_dump(),
            "seed": 3,
            "workload": {"output_tokens": {"distribution": "uniform", "min": 5, "max": 9}},
        }
    )
    source = PromptSource(config, "m", random.Random(3))
    planned = [source.next_request() for _ in range(200)]
    for p in planned:
        body = json.loads(p.body)
        assert body["max_tokens"] == body["min_tokens"] == p.output_tokens
    assert {p.output_tokens for p in planned} == set(range(5, 10))
    again = PromptSource(config, "m", random.Random(3))
    assert [again.next_request().output_tokens for _ in range(200)] == [p.output_tokens for p in planned]


def test_normal_output_draws_are_clipped_to_the_bounds() -> None:
    rng = random.Random(0)
    spec = OutputTokens(distribution="normal", mean=10, stddev=50, max=30)
    draws = [sample_output_tokens(spec, rng) for _ in range(500)]
    assert min(draws) == 1
    assert max(draws) == 30
    assert sample_output_tokens(7, rng) == 7
    assert largest_length(OutputTokens(distribution="normal", mean=100, stddev=10)) == 180


def _conversations(path: Path) -> Path:
    path.write_text(
        json.dumps(
            [
                {
                    "conversations": [
                        {"from": "system", "value": "be brief"},
                        {"from": "human", "value": "q1"},
                        {"from": "gpt", "value": "a1 a1"},
                        {"from": "human", "value": "q2"},
                        {"from": "gpt", "value": "a2 a2 a2"},
                        {"from": "human", "value": "q3 unanswered"},
                    ]
                },
                {"conversations": [{"from": "user", "value": "u1"}, {"from": "assistant", "value": "b1"}]},
            ]
        )
    )
    return path


def test_conversations_keep_every_human_turn_with_its_answer(tmp_path: Path) -> None:
    path = _conversations(tmp_path / "c.json")
    first, second = load_conversations(path)
    assert [(t.user, t.answer) for t in first] == [
        ("q1", "a1 a1"),
        ("q2", "a2 a2 a2"),
        ("q3 unanswered", None),
    ]
    assert [(t.user, t.answer) for t in second] == [("u1", "b1")]
    assert [len(c) for c in answered([first, second], path)] == [2, 1]


def test_each_turn_carries_the_conversation_so_far(tmp_path: Path) -> None:
    path = _conversations(tmp_path / "c.json")
    config = build_config(
        {
            **CONFIG.model_dump(),
            "api": "chat",
            "workload": {"dataset_path": str(path), "dataset_output_tokens": True, "max_turns": 8},
        }
    )
    (conversation, _) = answered(load_conversations(path), path)
    counted = tuple(replace(t, answer_tokens=len(str(t.answer).split())) for t in conversation)
    source = PromptSource(config, "m", random.Random(0), dataset=[counted])
    turns = list(source.conversation(counted))
    assert [t.turn for t in turns] == [0, 1]
    assert [t.output_tokens for t in turns] == [2, 3]  # the dataset's answer lengths
    first, second = (json.loads(t.body) for t in turns)
    assert first["messages"] == [{"role": "user", "content": "q1"}]
    assert second["messages"] == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1 a1"},  # the dataset's answer, not the server's
        {"role": "user", "content": "q2"},
    ]
    assert second["max_tokens"] == second["min_tokens"] == 3
    assert second["ignore_eos"] is True
    stream = source.requests()
    assert [next(stream).turn for _ in range(5)] == [0, 1, 0, 1, 0]  # conversation after conversation


def test_multi_turn_and_dataset_lengths_need_what_they_use() -> None:
    base = CONFIG.model_dump()
    with pytest.raises(ConfigError, match="max_turns needs dataset_path"):
        build_config({**base, "api": "chat", "workload": {"max_turns": 2}})
    with pytest.raises(ConfigError, match="dataset_output_tokens needs dataset_path"):
        build_config({**base, "workload": {"dataset_output_tokens": True}})
    dataset = {"dataset_path": "/d.json", "max_turns": 2}
    with pytest.raises(ConfigError, match="needs api: chat"):
        build_config({**base, "workload": dataset})
    with pytest.raises(ConfigError, match="needs load_mode: concurrency"):
        build_config({**base, "api": "chat", "load_mode": "rate", "workload": dataset})
