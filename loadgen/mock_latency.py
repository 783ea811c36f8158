"""Latency models for the mock server: how long the first token and each next token take.

A model is a small pluggable piece so a continuous-batching model (step time
growing with running sequences, prefill growing with prompt length) can
replace the fixed one without touching the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class LatencyModel(Protocol):
    def first_token_delay(self, prompt_tokens: int, running: int) -> float:
        """Seconds from the start of running the request to its first token."""
        ...

    def inter_token_delay(self, running: int) -> float:
        """Seconds between two tokens of one request while `running` requests run."""
        ...


@dataclass(frozen=True)
class FixedLatency:
    ttft_s: float = 0.0
    itl_s: float = 0.0

    def first_token_delay(self, prompt_tokens: int, running: int) -> float:
        return self.ttft_s

    def inter_token_delay(self, running: int) -> float:
        return self.itl_s
