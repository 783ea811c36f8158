"""Builds the real-vLLM tests' model locally: a tiny random Llama and a byte-level BPE tokenizer.

Nothing comes from a model hub. The tokenizer is trained on this interpreter's own standard library
sources; the weights are drawn from a fixed seed. The same seed, Python and package versions give
byte-identical files (MANIFEST.sha256 lists their digests; tests/integration/vllm checks a rebuild).

The output head is shaped so that a random model still streams one token per SSE chunk: special
tokens (dropped from the text) and byte tokens that are not whole UTF-8 (vLLM holds their text back)
get logits about 40 below the rest, whatever the context. The trick: residual dimension 0 is a
constant (every embedding has C there and no layer writes to it), so after the final RMSNorm it is a
positive number, and those tokens' head rows weigh it by -W. Every other token stays near uniform, so
end-of-sequence keeps its natural chance of about 1/4096 per step.

Run with the vLLM virtualenv's Python (it has torch, transformers, tokenizers):
    python hack/build-tiny-model.py --out DIR [--seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import sysconfig
from pathlib import Path

# Single-threaded training: the merges must not depend on thread scheduling.
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

VOCAB = 4096
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
EOS = "<|im_end|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CONSTANT = 1.0  # residual dimension 0, before the final norm
SUPPRESS = 10.0  # head weight on it for the tokens that must not be sampled
CORPUS_BYTES = 4_000_000


def corpus() -> list[str]:
    """The standard library's top-level modules, in name order, up to CORPUS_BYTES."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts, total = [], 0
    for path in sorted(stdlib.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        texts.append(text)
        total += len(text)
        if total >= CORPUS_BYTES:
            break
    return texts


def train_tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB,
        special_tokens=SPECIAL,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    return tok


def unwanted_ids(tok: Tokenizer) -> list[int]:
    """Special tokens but EOS, and tokens whose bytes are not whole UTF-8 on their own."""
    eos = tok.token_to_id(EOS)
    out = []
    for token, idx in tok.get_vocab().items():
        if token in SPECIAL:
            if idx != eos:
                out.append(idx)
            continue
        try:
            tok.decode([idx]).encode("utf-8")
            if "\ufffd" in tok.decode([idx]):
                out.append(idx)
        except UnicodeError:
            out.append(idx)
    return sorted(out)


def build_model(tok: Tokenizer, seed: int) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=128,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=2048,
        tie_word_embeddings=False,
        eos_token_id=tok.token_to_id(EOS),
        bos_token_id=None,
        pad_token_id=tok.token_to_id("<|endoftext|>"),
        torch_dtype="bfloat16",
    )
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.model.embed_tokens.weight[:, 0] = CONSTANT
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight[0, :] = 0.0
            layer.mlp.down_proj.weight[0, :] = 0.0
        head = model.lm_head.weight
        head[:, 0] = 0.0
        head[unwanted_ids(tok), 0] = -SUPPRESS
    return model.to(torch.bfloat16)


def check_head(model: LlamaForCausalLM, tok: Tokenizer) -> float:
    """The largest chance any unwanted token gets, over a few random contexts (must be tiny)."""
    bad = unwanted_ids(tok)
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, VOCAB, (4, 64), generator=gen)
    with torch.no_grad():
        probs = model(ids).logits.float().softmax(-1)
    return float(probs[..., bad].sum(-1).max())


def write(out: Path, seed: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tok = train_tokenizer()
    model = build_model(tok, seed)
    leak = check_head(model, tok)
    if leak > 1e-6:
        sys.exit(f"the output head still gives unwanted tokens {leak:.2e} of the probability")
    model.save_pretrained(out, safe_serialization=True)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=EOS, pad_token="<|endoftext|>", model_max_length=2048
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    digests = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir()) if p.is_file()
    }
    (out / "MANIFEST.sha256").write_text("".join(f"{d}  {n}\n" for n, d in digests.items()))
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"out": str(out), "parameters": params, "unwanted_tokens": len(unwanted_ids(tok)),
                      "unwanted_probability_max": leak, "files": sorted(digests)}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="directory to write the model into")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights (default 0)")
    args = parser.parse_args()
    write(args.out, args.seed)


if __name__ == "__main__":
    main()
