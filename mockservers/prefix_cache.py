"""A prefix cache shaped like vLLM's automatic prefix caching, for the mock server's counters.

vLLM keeps the KV cache in blocks of `block_tokens` tokens, each identified by a hash of its tokens and
of every block before it; a prompt hits the cache for as many leading full blocks as are cached (its
last, partial block never). Here the cache is a bounded LRU of those chained hashes, so a turn of a
conversation hits every full block of the turn before it, and unrelated prompts hit nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

BLOCK_TOKENS = 16  # vLLM's default --block-size
CAPACITY_BLOCKS = 65_536  # a few GiB of KV cache on a real GPU; the oldest blocks are evicted first


class PrefixCache:
    def __init__(self, block_tokens: int = BLOCK_TOKENS, capacity_blocks: int = CAPACITY_BLOCKS) -> None:
        self.block_tokens = block_tokens
        self.capacity_blocks = capacity_blocks
        self._blocks: OrderedDict[int, None] = OrderedDict()
        self.queries = 0  # tokens looked up (vllm:prefix_cache_queries)
        self.hits = 0  # tokens found cached (vllm:prefix_cache_hits)

    def lookup(self, tokens: Sequence[str]) -> int:
        """The cached tokens at the head of `tokens`; then every full block of it is cached."""
        self.queries += len(tokens)
        size = self.block_tokens
        hit = 0
        missed = False
        parent = 0
        for start in range(0, len(tokens) - size + 1, size):
            parent = hash((parent, *tokens[start : start + size]))
            if not missed and parent in self._blocks:
                hit += size
                self._blocks.move_to_end(parent)
                continue
            missed = True
            self._blocks[parent] = None
        while len(self._blocks) > self.capacity_blocks:
            self._blocks.popitem(last=False)
        self.hits += hit
        return hit

    @property
    def hit_rate(self) -> float:
        """Hits over queries since start (vLLM V0's vllm:gpu_prefix_cache_hit_rate)."""
        return self.hits / self.queries if self.queries else 0.0
