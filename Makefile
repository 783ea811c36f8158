# Targets people expect; the scripts in hack/ do the work.
.PHONY: help demo test lint unit venv vllm cluster-up cluster-down image crds bench bench-operator bench-merge clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

demo:  ## bring up the local node, install the operator with Helm, run examples/loadtest.yaml against the mock (VLLM=real: a real vLLM)
	bash hack/demo.sh $(if $(filter real,$(VLLM)),--real-vllm)

test:  ## install everything and run lint + unit + integration + e2e (the README's test command)
	bash hack/test.sh

lint: venv  ## ruff + mypy --strict + import-linter layer contracts
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy && .venv/bin/lint-imports

unit: venv  ## unit tests only (seconds)
	.venv/bin/pytest tests/unit -q

venv:  ## the project's virtualenv in .venv
	bash hack/setup-venv.sh

vllm:  ## vLLM's CPU build and the tiny local model, cached per user (hack/setup-vllm.sh, docs/real-vllm.md)
	bash hack/setup-vllm.sh

cluster-up:  ## start the local single-node Kubernetes (root); KUBECONFIG is printed
	bash hack/install-deps.sh && bash hack/build-kubernetes.sh && bash hack/build-images.sh all && bash hack/cluster-up.sh

cluster-down:  ## stop it and remove every process, mount, netns, bridge and rule
	bash hack/cluster-down.sh

image:  ## build the project and mock images (buildah) and import them into the running node
	bash hack/build-images.sh all && (bash hack/cluster-up.sh --status && bash hack/import-images.sh || true)

crds: venv  ## regenerate crds/ from the pydantic API models
	.venv/bin/python -m loadtest_operator.crdgen && cp crds/*.yaml helm/llmload/crds/

bench: venv  ## load-generator benchmark (figures, not a test)
	.venv/bin/python benchmarks/loadgen_bench.py

# On a shared node, serialise with the other users: make bench-operator LOCK=/path/to/lockfile
bench-operator: venv  ## operator scale benchmark, issue 20 (figures with targets; 30 to 45 minutes)
	.venv/bin/python -m benchmarks.operator_scale $(if $(LOCK),--lock $(LOCK),) $(BENCH_ARGS)

bench-merge: venv  ## the operator's merge of 64 shards / 1 M and of 10 M requests: RSS, time, loop block (figures)
	.venv/bin/python benchmarks/merge_bench.py

clean:  ## remove the virtualenv and caches of this checkout (not the per-user build cache)
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache
