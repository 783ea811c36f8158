"""The tiny model is built locally and deterministically: the same seed gives the same bytes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.realvllm import ROOT, Install


def test_a_rebuild_with_the_same_seed_is_byte_identical(vllm_install: Install, tmp_path: Path) -> None:
    out = tmp_path / "model"
    subprocess.run(
        [str(vllm_install.python), str(ROOT / "hack" / "build-tiny-model.py"), "--out", str(out)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    cached = (vllm_install.model / "MANIFEST.sha256").read_text()
    assert (out / "MANIFEST.sha256").read_text() == cached
    assert len(cached.splitlines()) >= 5  # weights, config, tokenizer, its config, chat template
