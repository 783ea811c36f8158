"""Prompts and request bodies: synthetic text fitted to the server's tokenizer, or ShareGPT."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadgen.config import InputTokens, RunConfig, largest_length

# Short common words: each is one token in the usual BPE vocabularies, which keeps
# the words-to-tokens fit close to linear before calibration refines it.
_WORDS = (
    "the of and to in is was for on that with as by at from his her are be this had not but "
    "what all were when we there can an your which their said if do will each about how up out "
    "them then she many some so these would other into has more two like him see time could no "
    "make than first been its who now people my made over did down only way find use may water "
    "long little very after words called just where most know get through back much before go "
    "good new write our used me man too any day same right look think also around another came "
    "come work three word must because does part even place well such here take why things help "
    "put years different away again off went old number great tell men say small every found "
    "still between name should home big give air line set own under read last never us left end "
    "along while might next sound below saw something thought both few those always looked show "
    "large often together asked house world going want school important until form food keep"
)
_VOCABULARY = tuple(_WORDS.split())
_SLOT = "\u0000prompt\u0000"  # a placeholder no real prompt contains


@dataclass(frozen=True)
class TokenFit:
    """tokens(prompt with `words` body words) = slope * words + intercept."""

    slope: float = 1.0
    intercept: float = 1.0  # the unique head word of each prompt
    source: str = "assumed (1 token per word)"

    def words_for(self, tokens: float) -> int:
        return max(1, round((tokens - self.intercept) / self.slope))


def fit_line(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope and intercept of (words, tokens) points."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if sxx == 0:
        raise ValueError("need at least two different prompt lengths to fit")
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sxx
    return slope, mean_y - slope * mean_x


class SyntheticText:
    """Cheap random text: slices of one long pre-built word sequence."""

    def __init__(self, rng: random.Random, corpus_words: int = 200_000) -> None:
        words = rng.choices(_VOCABULARY, k=corpus_words)
        self._text = " ".join(words)
        # Start offset of every word, to slice whole words in O(1) lookups.
        self._starts: list[int] = []
        pos = 0
        for w in words:
            self._starts.append(pos)
            pos += len(w) + 1
        self._rng = rng

    def words(self, n: int) -> str:
        n = min(n, len(self._starts) - 1)
        first = self._rng.randrange(0, len(self._starts) - n)
        end = self._starts[first + n] - 1
        return self._text[self._starts[first] : end]


def sample_input_tokens(spec: InputTokens, rng: random.Random) -> int:
    # The schema guarantees the parameters each distribution needs (loadgen.distribution).
    if spec.distribution == "fixed":
        assert spec.mean is not None
        return spec.mean
    if spec.distribution == "uniform":
        assert spec.min is not None
        assert spec.max is not None
        return rng.randint(spec.min, spec.max)
    assert spec.mean is not None
    assert spec.stddev is not None
    value = round(rng.gauss(spec.mean, spec.stddev))
    low = spec.min if spec.min is not None else 1
    high = spec.max if spec.max is not None else value
    return max(low, min(high, value))


@dataclass(frozen=True, slots=True)
class Turn:
    """One human turn of a conversation and the dataset's answer to it (None: the dataset has none)."""

    user: str
    answer: str | None = None
    answer_tokens: int = 0  # the answer's length in server tokens (set by `count_answers`)


Conversation = tuple[Turn, ...]


def load_conversations(path: Path) -> list[Conversation]:
    """Every ShareGPT conversation as its human turns, each with the answer that follows it.

    Turns before the first human one (a system or gpt turn) are skipped; so are empty values.
    """
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise ValueError(f"{path}: a ShareGPT file is a JSON list of {{'conversations': [...]}} objects")
    conversations: list[Conversation] = []
    for item in data:
        messages = item.get("conversations") if isinstance(item, dict) else None
        if not isinstance(messages, list):
            continue
        turns: list[Turn] = []
        for message in messages:
            if not isinstance(message, dict) or not message.get("value"):
                continue
            role, value = message.get("from"), str(message["value"])
            if role in ("human", "user"):
                turns.append(Turn(value))
            elif role in ("gpt", "assistant", "chatgpt", "bard") and turns and turns[-1].answer is None:
                turns[-1] = Turn(turns[-1].user, value)
        if turns:
            conversations.append(tuple(turns))
    if not conversations:
        raise ValueError(f"{path}: no conversation with a human turn found")
    return conversations


def load_sharegpt(path: Path) -> list[str]:
    """First human turn of every ShareGPT conversation."""
    return [conversation[0].user for conversation in load_conversations(path)]


def answered(conversations: list[Conversation], path: Path | str) -> list[Conversation]:
    """Each conversation up to its first turn without an answer (that turn has no length to ask for);
    conversations left empty are dropped."""
    kept = []
    for conversation in conversations:
        turns = []
        for turn in conversation:
            if turn.answer is None:
                break
            turns.append(turn)
        if turns:
            kept.append(tuple(turns))
    if not kept:
        raise ValueError(f"{path}: no human turn has an answer, so no output length can be taken from it")
    return kept


def sample_output_tokens(spec: int | InputTokens, rng: random.Random) -> int:
    """One request's answer length: the number, or a draw clipped to [1, largest_length]."""
    if isinstance(spec, int):
        return spec
    return max(1, min(largest_length(spec), sample_input_tokens(spec, rng)))


@dataclass(frozen=True, slots=True)
class Planned:
    """A request ready to send: its body and what it asks for."""

    body: bytes
    input_tokens: int  # aimed for; 0 when unknown (a dataset prompt)
    output_tokens: int  # max_tokens asked for (pinned when pin_output_length)
    turn: int = 0  # 0-based turn of its conversation (0 for single requests)


class PromptSource:
    """Produces request bodies (bytes) for one shard; deterministic for a seed."""

    def __init__(
        self,
        config: RunConfig,
        model: str,
        rng: random.Random,
        fit: TokenFit = TokenFit(),
        dataset: list[Conversation] | None = None,
        text: SyntheticText | None = None,
    ) -> None:
        self._config = config
        self._model = model
        self._rng = rng
        self.fit = fit
        self._dataset = dataset
        if dataset is not None:
            self.text = None
        else:
            # Building the corpus takes a moment: a re-fitted source reuses the old one's.
            self.text = text or SyntheticText(random.Random(rng.random()))
        shared = config.workload.shared_prefix_tokens
        # The prefix is the same text for every shard (seeded by the run seed only).
        self._prefix = (
            SyntheticText(random.Random(config.seed), corpus_words=max(shared * 2, 1000)).words(
                max(1, round(shared / fit.slope))
            )
            + "\n"
            if shared
            else ""
        )
        self._templates = {stream: self._template(stream) for stream in (True, False)}

    def next_prompt(self) -> tuple[str, int]:
        """A prompt and the number of input tokens aimed for (0 when unknown: dataset)."""
        if self._dataset is not None:
            return self._prefix + self._rng.choice(self._dataset)[0].user, 0
        assert self.text is not None
        target = sample_input_tokens(self._config.workload.input_tokens, self._rng)
        body_tokens = target - self._config.workload.shared_prefix_tokens
        # A unique head defeats the server's prefix cache across requests.
        prompt = (
            f"{self._prefix}{self._rng.getrandbits(48):x} {self.text.words(self.fit.words_for(body_tokens))}"
        )
        return prompt, target

    def next_request(self) -> Planned:
        """One single-turn request: a prompt and its own answer length."""
        workload = self._config.workload
        if self._dataset is not None:
            turn = self._rng.choice(self._dataset)[0]
            length = self._answer_length(turn)
            return Planned(self.body(self._prefix + turn.user, output_tokens=length), 0, length)
        prompt, target = self.next_prompt()
        length = sample_output_tokens(workload.output_tokens, self._rng)
        return Planned(self.body(prompt, output_tokens=length), target, length)

    def requests(self) -> Iterator[Planned]:
        """One user's requests, endless: single requests, or whole conversations one after another."""
        max_turns = self._config.workload.max_turns
        if max_turns is None or self._dataset is None:
            while True:
                yield self.next_request()
        while True:
            yield from self.conversation(self._rng.choice(self._dataset)[:max_turns])

    def conversation(self, turns: Conversation) -> Iterator[Planned]:
        """Each turn with the conversation so far: the earlier turns and the dataset's answers to them.

        The dataset's answers, not the server's, stand in for the assistant: every run and every
        server then sees the same prompts (the seed picks the conversations), and the stream is only
        counted, never stored. The server's prefix cache still holds each earlier turn's prompt.
        """
        messages: list[dict[str, str]] = []
        for index, turn in enumerate(turns):
            content = self._prefix + turn.user if index == 0 else turn.user
            messages.append({"role": "user", "content": content})
            length = self._answer_length(turn)
            yield Planned(self._chat_body(messages, length), 0, length, index)
            messages.append({"role": "assistant", "content": turn.answer or ""})

    def _answer_length(self, turn: Turn) -> int:
        if self._config.workload.dataset_output_tokens:
            return max(1, turn.answer_tokens)
        return sample_output_tokens(self._config.workload.output_tokens, self._rng)

    def body(self, prompt: str, stream: bool | None = None, output_tokens: int | None = None) -> bytes:
        stream = self._config.stream if stream is None else stream
        head, tail = self._templates[stream]
        length = self._config.workload.largest_output_tokens() if output_tokens is None else output_tokens
        # Only the prompt and the length change between requests: splice them into pre-serialised JSON.
        text = json.dumps(prompt).encode()
        if self._config.api == "chat":
            text = b'[{"role":"user","content":' + text + b"}]"
        return head + text + self._lengths(length) + tail

    def _lengths(self, tokens: int) -> bytes:
        if self._config.workload.pin_output_length:
            return b',"max_tokens":%d,"min_tokens":%d' % (tokens, tokens)
        return b',"max_tokens":%d' % tokens

    def _chat_body(self, messages: list[dict[str, str]], tokens: int) -> bytes:
        head, tail = self._templates[self._config.stream]
        return head + json.dumps(messages).encode() + self._lengths(tokens) + tail

    def _template(self, stream: bool) -> tuple[bytes, bytes]:
        cfg = self._config
        payload: dict[str, Any] = {"model": self._model, "stream": stream}
        if stream:
            payload["stream_options"] = {"include_usage": True}
        if cfg.workload.pin_output_length:
            payload["ignore_eos"] = True
        if cfg.api == "chat":
            payload["messages"] = _SLOT
        else:
            payload["prompt"] = _SLOT
        text = json.dumps(payload, separators=(",", ":")).encode()
        head, tail = text.split(json.dumps(_SLOT).encode())
        return head, tail

    def calibration_text(self, words: int) -> str:
        assert self.text is not None
        return f"{self._rng.getrandbits(48):x} {self.text.words(words)}"
