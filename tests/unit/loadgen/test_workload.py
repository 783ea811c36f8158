import json
import random
from pathlib import Path

import pytest

from loadgen.config import InputTokens, build_config
from loadgen.workload import PromptSource, TokenFit, fit_line, load_sharegpt, sample_input_tokens

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
