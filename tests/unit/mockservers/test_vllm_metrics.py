from mockservers.vllm_metrics import VllmMetrics, one_two_five_buckets


def test_buckets_follow_vllms_one_two_five_series() -> None:
    assert one_two_five_buckets(100) == (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)


def test_rendered_metrics_use_vllm_names_labels_and_cumulative_buckets() -> None:
    metrics = VllmMetrics("m", 1000)
    metrics.running, metrics.waiting, metrics.prompt_tokens = 3, 2, 40
    metrics.ttft.observe(0.03)
    metrics.ttft.observe(5000.0)
    text = metrics.render(tokens_in_use=0)
    labels = 'engine="0",model_name="m"'
    assert f"vllm:num_requests_running{{{labels}}} 3.0" in text
    assert f"vllm:num_requests_waiting{{{labels}}} 2.0" in text
    assert f"vllm:prompt_tokens_total{{{labels}}} 40.0" in text
    assert "# TYPE vllm:time_to_first_token_seconds histogram" in text
    assert f'vllm:time_to_first_token_seconds_bucket{{{labels},le="0.02"}} 0.0' in text
    assert f'vllm:time_to_first_token_seconds_bucket{{{labels},le="0.04"}} 1.0' in text
    assert f'vllm:time_to_first_token_seconds_bucket{{{labels},le="2560.0"}} 1.0' in text
    assert f'vllm:time_to_first_token_seconds_bucket{{{labels},le="+Inf"}} 2.0' in text
    assert f"vllm:time_to_first_token_seconds_count{{{labels}}} 2.0" in text
    for name in ("vllm:kv_cache_usage_perc", "vllm:num_preemptions_total", "vllm:generation_tokens_total",
                 "vllm:e2e_request_latency_seconds_sum", "vllm:request_prompt_tokens_bucket",
                 "vllm:request_generation_tokens_count"):  # fmt: skip
        assert name in text
    assert "gpu_cache_usage_perc" not in text
    assert "vllm:gpu_cache_usage_perc" in VllmMetrics("m", 10, legacy_cache_metric=True).render(0)


def test_a_finished_request_is_counted_as_vllm_counts_it() -> None:
    metrics = VllmMetrics("m", 1000)
    metrics.record_finished(prompt_tokens=9, output_tokens=16, ttft=0.05, e2e=0.4, reason="length")
    metrics.record_finished(prompt_tokens=3, output_tokens=2, ttft=0.01, e2e=0.1, reason="stop")
    text = metrics.render(tokens_in_use=0)
    labels = 'engine="0",model_name="m"'
    assert "# TYPE vllm:request_success_total counter" in text
    assert f'vllm:request_success_total{{{labels},finished_reason="length"}} 1.0' in text
    assert f'vllm:request_success_total{{{labels},finished_reason="stop"}} 1.0' in text
    assert f'vllm:request_success_total{{{labels},finished_reason="abort"}} 0.0' in text
    assert f"vllm:generation_tokens_total{{{labels}}} 18.0" in text
    assert f"vllm:prompt_tokens_total{{{labels}}} 12.0" in text
    assert f"vllm:e2e_request_latency_seconds_count{{{labels}}} 2.0" in text
