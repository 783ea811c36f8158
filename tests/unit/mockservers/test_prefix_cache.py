"""The mock's vLLM-like answer lengths (max_tokens, min_tokens, ignore_eos) and prefix cache."""

import pytest

from mockservers.openai_server import answer_length, prompt_tokens_of
from mockservers.prefix_cache import PrefixCache
from mockservers.vllm_metrics import VllmMetrics


@pytest.mark.parametrize(
    ("payload", "length"),
    [
        ({}, 16),  # the default max_tokens; this model never emits EOS
        ({"max_tokens": 40}, 5),  # EOS after 5 (below)
        ({"max_tokens": 40, "min_tokens": 12}, 12),  # EOS held back until min_tokens
        ({"max_tokens": 40, "ignore_eos": True}, 40),
        ({"max_tokens": 40, "min_tokens": 40, "ignore_eos": True}, 40),
        ({"max_tokens": 3}, 3),
    ],
)
def test_answer_length_follows_vllm(payload: dict[str, object], length: int) -> None:
    assert answer_length(payload, 16, 5 if payload else 0) == length


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"max_tokens": 4, "min_tokens": 5}, "min_tokens must be less than or equal to max_tokens=4"),
        ({"max_tokens": 0}, "max_tokens must be at least 1"),
        ({"min_tokens": -1}, "min_tokens must be greater than or equal to 0"),
    ],
)
def test_impossible_lengths_are_refused(payload: dict[str, object], message: str) -> None:
    refused = answer_length(payload, 16, 0)
    assert isinstance(refused, str)
    assert message in refused


def test_a_turn_hits_the_full_blocks_of_the_turn_before() -> None:
    cache = PrefixCache(block_tokens=4)
    turn_1 = {"messages": [{"role": "user", "content": "a b c d e f g h i"}]}
    turn_2 = {"messages": [*turn_1["messages"], {"role": "assistant", "content": "x y"},
                           {"role": "user", "content": "z"}]}  # fmt: skip
    first, second = prompt_tokens_of(turn_1, chat=True), prompt_tokens_of(turn_2, chat=True)
    assert len(first) == 7 + 9
    assert cache.lookup(first) == 0
    assert cache.lookup(second) == 16  # all four full blocks of the first prompt
    assert cache.lookup(prompt_tokens_of({"prompt": "q r s t u v"}, chat=False)) == 0
    assert (cache.queries, cache.hits) == (16 + 19 + 7, 16)


def test_the_cache_forgets_its_oldest_blocks() -> None:
    cache = PrefixCache(block_tokens=2, capacity_blocks=2)
    cache.lookup(["a", "b", "c", "d"])
    cache.lookup(["e", "f"])  # evicts a-b
    assert cache.lookup(["a", "b", "c", "d"]) == 0


def test_the_counters_carry_vllm_names() -> None:
    metrics = VllmMetrics("m", 1024, prefix_cache=PrefixCache())
    assert metrics.prefix_cache is not None
    metrics.prefix_cache.lookup(["t"] * 40)
    metrics.prefix_cache.lookup(["t"] * 40)
    text = metrics.render(0)
    assert 'vllm:prefix_cache_queries_total{engine="0",model_name="m"} 80.0' in text
    assert 'vllm:prefix_cache_hits_total{engine="0",model_name="m"} 32.0' in text
    legacy = VllmMetrics("m", 1024, legacy_cache_metric=True, prefix_cache=metrics.prefix_cache).render(0)
    assert 'vllm:gpu_prefix_cache_hit_rate{engine="0",model_name="m"} 0.4' in legacy
    assert 'vllm:gpu_prefix_cache_hits_total{engine="0",model_name="m"} 32.0' in legacy
