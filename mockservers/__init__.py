"""Test servers for llmload: stand-ins for what the product talks to, never part of the product.

- `mockservers.openai_server`: a mock OpenAI-compatible server shaped like vLLM (response shapes,
  `/metrics` names, `/tokenize`), with fault injection and server-side timing truth;
  `mockservers.latency` holds its latency models (fixed, and vLLM-like continuous batching with
  the closed form `batching_knee` the capacity tests take as their oracle);
  `mockservers.vllm_metrics` its vLLM `/metrics` model.
- `mockservers.dcgm`: a stand-in for NVIDIA's dcgm-exporter (standard library only).

The command line is `llmload-mock openai ...` and `llmload-mock dcgm ...` (`mockservers.cli`).
This package may import `loadgen`; `loadgen` and `loadtest_operator` never import it
(.importlinter), and the product image does not contain it (the Dockerfile's `mockservers` stage does).
"""
