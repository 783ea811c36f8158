"""Load generator for OpenAI-compatible LLM servers.

Entry points: `loadgen.config.build_config` (the run-config schema),
`loadgen.runner.run` (one run), `loadgen.merge.merge_results` and
`loadgen.compact.encode_compact` / `decode_compact` (shard results: counts, histograms, SLO tallies),
`loadgen.progress.ProgressReporter` (progress hook), `loadgen.cli.main`.
Nothing here imports Kubernetes. The mock servers it is tested against live in the separate
`mockservers` package (not in the product).
"""
