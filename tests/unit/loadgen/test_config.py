import argparse
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadgen.cli import _RUN_FLAGS, _build_parser, config_from_args
from loadgen.config import (
    MIB,
    ConfigError,
    ResponseLimits,
    RunConfig,
    build_config,
    shard_seed,
    split_evenly,
)

BASE = {"target_url": "http://127.0.0.1:9", "requests_per_level": 10}


@settings(deadline=None)  # timing limits flake on a busy CI machine
@given(st.integers(0, 10_000), st.integers(1, 64))
def test_shard_shares_add_up_and_differ_by_at_most_one(total: int, count: int) -> None:
    shares = [split_evenly(total, i, count) for i in range(count)]
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1
    assert shares == sorted(shares, reverse=True)  # remainders go to the lowest indices


def test_splitting_a_shard_again_composes() -> None:
    config = build_config({**BASE, "shard_index": 1, "shard_count": 3})
    worker = config.for_shard(1, 2)
    assert (worker.shard_index, worker.shard_count) == (3, 6)


def test_shard_seeds_are_stable_and_distinct() -> None:
    assert shard_seed(5, 0, 1) == 5
    seeds = {shard_seed(5, i, 4) for i in range(4)}
    assert len(seeds) == 4
    assert shard_seed(5, 2, 4) == shard_seed(5, 2, 4)


def test_errors_say_what_is_wrong_and_how_to_fix_it() -> None:
    with pytest.raises(ConfigError) as info:
        build_config({"target_url": "127.0.0.1:8000", "levels": [0], "requests_per_levle": 3})
    message = str(info.value)
    assert "requests_per_levle: unknown field" in message
    with pytest.raises(ConfigError, match=r"needs a scheme, e\.g\. http://"):
        build_config({**BASE, "target_url": "127.0.0.1:8000"})
    with pytest.raises(ConfigError, match="requests_per_level or level_duration_seconds"):
        build_config({"target_url": "http://127.0.0.1:9"})
    with pytest.raises(ConfigError, match=r"min .* is above max"):
        build_config({**BASE, "workload": {"input_tokens": {"distribution": "uniform", "min": 9, "max": 3}}})
    with pytest.raises(ConfigError, match="shard_index 2 must be below shard_count 2"):
        build_config({**BASE, "shard_index": 2, "shard_count": 2})


@pytest.mark.parametrize(
    ("workload", "message"),
    [
        # Accepted before the rules were shared with the operator, which refused them:
        ({"input_tokens": {"distribution": "normal", "mean": 2000, "stddev": 10, "max": 1024}}, "mean (2000) is above max"),
        ({"input_tokens": {"distribution": "fixed", "mean": 10, "min": 50, "max": 60}}, "fixed does not use min or max"),
        ({"input_tokens": {"distribution": "uniform", "min": 5, "max": 9, "stddev": 3}}, "uniform does not use stddev"),
        # ... and a prefix that leaves a prompt no room for its unique part (prompts came out too long).
        ({"shared_prefix_tokens": 600, "input_tokens": {"mean": 512}}, "shared prefix (600 tokens) leaves no room"),
        ({"input_tokens": {"distribution": "normal", "mean": 256, "stddev": 0}}, "normal needs stddev above 0"),
        ({"input_tokens": {"distribution": "normal", "stddev": 20}}, "normal needs mean;"),
    ],
)  # fmt: skip
def test_input_tokens_follow_the_shared_distribution_rules(workload: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build_config({**BASE, "workload": workload})
    assert message in str(info.value)
    assert "workload" in str(info.value)  # where, in the config's own words


def test_input_tokens_default_and_dataset_prefix() -> None:
    assert build_config(BASE).workload.input_tokens.mean == 256
    uniform = build_config(
        {**BASE, "workload": {"input_tokens": {"distribution": "uniform", "min": 9, "max": 30}}}
    )
    assert uniform.workload.input_tokens.mean is None  # uniform draws from min and max only
    # Prompts from a dataset are not drawn from input_tokens: any shared prefix goes.
    dataset = build_config({**BASE, "workload": {"dataset_path": "d.json", "shared_prefix_tokens": 4096}})
    assert dataset.workload.shared_prefix_tokens == 4096


def test_a_dumped_config_validates_again() -> None:
    """--workers hands each worker the config as JSON; every accepted config must survive the trip."""
    config = build_config(
        {**BASE, "workload": {"input_tokens": {"distribution": "uniform", "min": 9, "max": 30}}}
    )
    assert RunConfig.model_validate_json(config.model_dump_json()) == config


def test_api_key_is_read_at_run_time_and_never_in_the_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_LOADGEN_KEY", "sk-secret-value")
    config = build_config({**BASE, "api_key_env": "TEST_LOADGEN_KEY"})
    assert config.resolve_api_key() == "sk-secret-value"
    assert "sk-secret" not in repr(config)
    assert "sk-secret" not in str(config.dump_public())
    key_file = tmp_path / "key"
    key_file.write_text("sk-from-file\n")
    assert build_config({**BASE, "api_key_file": str(key_file)}).resolve_api_key() == "sk-from-file"
    with pytest.raises(ValueError, match="NOT_SET_ANYWHERE"):
        build_config({**BASE, "api_key_env": "NOT_SET_ANYWHERE"}).resolve_api_key()


def test_cli_flags_override_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "target_url: http://127.0.0.1:9\nlevels: [1, 2]\nrequests_per_level: 5\n"
        "workload:\n  output_tokens: 64\n  input_tokens: {mean: 100}\n"
    )
    args = _build_parser().parse_args(
        [
            "run",
            "--config",
            str(path),
            "--levels",
            "4,8",
            "--input-tokens",
            "300",
            "--no-stream",
            "--api",
            "chat",
        ]
    )
    config = config_from_args(args)
    assert config.levels == [4, 8]
    assert config.workload.input_tokens.mean == 300
    assert config.workload.output_tokens == 64  # kept from the file
    assert config.stream is False
    assert config.api == "chat"


def test_every_config_field_has_a_cli_flag() -> None:
    run_parser = next(
        a for a in _build_parser()._actions if isinstance(a, argparse._SubParsersAction)
    ).choices["run"]
    help_text = run_parser.format_help()
    for name in RunConfig.model_fields:
        if name in ("workload", "slo", "saturation", "response_limits"):
            continue
        flag = "--no-stream" if name == "stream" else "--" + name.replace("_", "-")
        assert flag in help_text, name
    limits = {path for _, path, _, _ in _RUN_FLAGS if path[0] == "response_limits"}
    assert limits == {("response_limits", name) for name in ResponseLimits.model_fields}


def test_the_body_budget_grows_with_the_tokens_asked_for_unless_it_is_set() -> None:
    limits = ResponseLimits()
    assert limits.body_bytes(128, stream=True) == MIB + 128 * 4096
    assert limits.body_bytes(128, stream=False) == MIB + 128 * 256
    assert ResponseLimits(max_body_bytes=5000).body_bytes(100_000, stream=True) == 5000


def test_response_limits_come_from_flags_and_refuse_tiny_values() -> None:
    args = _build_parser().parse_args(
        ["run", "--target-url", "http://x:1", "--requests-per-level", "1", "--max-event-bytes", "2048"]
    )
    assert config_from_args(args).response_limits == ResponseLimits(max_event_bytes=2048)
    with pytest.raises(ConfigError, match=r"response_limits\.max_event_bytes"):
        build_config({**BASE, "response_limits": {"max_event_bytes": 10}})
