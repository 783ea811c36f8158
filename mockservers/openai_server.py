"""A mock OpenAI-compatible server shaped like vLLM, for demos, tests and the benchmark.

Streams are written the way vLLM writes them (compact JSON chunks, a final
`usage` chunk when asked for, then `data: [DONE]`). The server records its own
truth for every request: when it had read the request, when it flushed the
first and the last content chunk, and how many it sent (perf_counter clock,
which is system-wide on Linux, so a client on the same machine can compare).

With `BatchingLatency` one engine task drives every request through a
`BatchingEngine` (continuous batching, `max_running` as vLLM's max-num-seqs);
each request's handler only waits for the engine to tell it that tokens are
ready and writes them. Otherwise each request sleeps to its own schedule
(`FixedLatency`), with `max_running` a semaphore.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from mockservers.faults import malformed_events
from mockservers.latency import BatchingEngine, BatchingLatency, FixedLatency, LatencyModel, Sequence
from mockservers.prefix_cache import PrefixCache
from mockservers.vllm_metrics import VllmMetrics

_TOKENS = tuple(f" {w}" for w in ("alpha", "beta", "gamma", "delta", "omega", "sigma", "theta", "kappa"))
# A chat prompt costs this many template tokens on top of its words (a typical template).
CHAT_TEMPLATE_TOKENS = 7
COMPLETIONS_BOS_TOKENS = 1


@dataclass(frozen=True)
class MockConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    model: str = "mock-model"
    version: str = "0.0.0+mock"  # what GET /version reports as vLLM's version
    max_model_len: int = 8192
    default_output_tokens: int = 16  # vLLM's default max_tokens for completions
    max_running: int = 0  # 0: no capacity limit; else requests beyond it wait in a queue
    error_rate: float = 0.0
    error_status: int = 500
    cut_rate: float = 0.0  # drop the connection half-way through a stream
    stall_rate: float = 0.0  # pause half-way through a stream
    stall_seconds: float = 5.0
    seed: int = 0
    legacy_cache_metric: bool = False  # expose vllm:gpu_cache_usage_perc instead of kv_cache_usage_perc
    record_truth: bool = True
    tokenize_endpoint: bool = True  # False: behave like a server without vLLM's /tokenize
    fault: str | None = None  # one of FAULTS, applied to every `fault_every`-th generation request
    fault_every: int = 1
    fault_bytes: int = 300_000_000  # huge-error: length of the error body
    # The mock model's own answer length: it emits EOS after this many tokens unless the request sets
    # ignore_eos (or min_tokens above it), as a model does. 0: it never does (every answer max_tokens).
    eos_after_tokens: int = 0
    prefix_cache: bool = False  # model vLLM's prefix cache (and count hits in its metrics)


def count_tokens(text: str) -> int:
    """The mock's tokenizer: one token per word, two for words longer than six characters."""
    return sum(1 if len(w) <= 6 else 2 for w in text.split())


def tokens_of(text: str) -> list[str]:
    """The tokens `count_tokens` counts (a long word's second token is its tail), for the prefix cache."""
    out: list[str] = []
    for word in text.split():
        out.append(word)
        if len(word) > 6:
            out.append("\u0000" + word)
    return out


def prompt_tokens_of(payload: dict[str, Any], chat: bool) -> list[str]:
    """A request's prompt as tokens: the chat template's (at the head) or BOS, then the text's."""
    if chat:
        tokens = ["<|template|>"] * CHAT_TEMPLATE_TOKENS
        for message in payload.get("messages") or []:
            tokens += tokens_of(str(message.get("content", "")))
        return tokens
    return ["<s>"] * COMPLETIONS_BOS_TOKENS + tokens_of(str(payload.get("prompt", "")))


def answer_length(payload: dict[str, Any], default: int, eos_after: int) -> int | str:
    """Tokens the answer has, as vLLM decides it (max_tokens, min_tokens, ignore_eos), or what is wrong."""
    max_tokens, min_tokens = payload.get("max_tokens"), payload.get("min_tokens", 0)
    if max_tokens is None:
        max_tokens = default
    if type(max_tokens) is not int or max_tokens < 1:
        return f"max_tokens must be at least 1, got {max_tokens}."
    if type(min_tokens) is not int or min_tokens < 0:
        return f"min_tokens must be greater than or equal to 0, got {min_tokens}."
    if min_tokens > max_tokens:
        return f"min_tokens must be less than or equal to max_tokens={max_tokens}, got {min_tokens}."
    if payload.get("ignore_eos") or not eos_after:
        return max_tokens
    # EOS is held back until min_tokens are out; the answer ends at the model's own length otherwise.
    return min(max_tokens, max(min_tokens, eos_after))


@dataclass
class Truth:
    """Server-side timestamps, one entry per streamed request, in perf_counter seconds.

    `read`: the request's bytes came off the socket; `handled`: the handler had
    parsed it (later by however busy the server's event loop was).
    """

    read: list[float] = field(default_factory=list)
    handled: list[float] = field(default_factory=list)
    first_flush: list[float] = field(default_factory=list)
    last_flush: list[float] = field(default_factory=list)
    chunks: list[int] = field(default_factory=list)

    def add(self, read: float, handled: float, first: float, last: float, chunks: int) -> None:
        self.read.append(read)
        self.handled.append(handled)
        self.first_flush.append(first)
        self.last_flush.append(last)
        self.chunks.append(chunks)


@dataclass(frozen=True, slots=True)
class _Faults:
    """What goes wrong in one stream: dropped half-way, paused half-way, a garbage event after the first token."""

    cut: bool = False
    stall: bool = False
    garbage: bytes = b""


class _TimedRequestHandler(RequestHandler):
    """Stamps when a request's first bytes come off the socket, before the loop gets to parse them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrival = 0.0

    def data_received(self, data: bytes) -> None:
        if not self.arrival:
            self.arrival = perf_counter()
        super().data_received(data)


class _TimedServer(web.Server):
    __slots__ = ()  # the same layout, so an existing Server can become one

    def __call__(self) -> RequestHandler:
        return _TimedRequestHandler(self, loop=self._loop, **self._kwargs)


class _TimedAppRunner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _TimedServer
        return server


def _take_arrival(request: web.Request, fallback: float) -> float:
    proto = request.protocol
    if isinstance(proto, _TimedRequestHandler) and proto.arrival:
        arrival, proto.arrival = proto.arrival, 0.0  # the next request on this connection stamps anew
        return arrival
    return fallback


class _LiveSeq(Sequence):
    """A request in the engine, with the event its handler waits on for new tokens."""

    __slots__ = ("ready",)

    def __init__(self, prompt_tokens: int, max_tokens: int, arrival: float) -> None:
        super().__init__(prompt_tokens, max_tokens, arrival)
        self.ready = asyncio.Event()

    async def wait_beyond(self, have: int) -> None:
        """Until the engine has emitted more than `have` tokens of this request."""
        while self.emitted <= have:
            self.ready.clear()
            await self.ready.wait()


class MockServer:
    def __init__(self, config: MockConfig, latency: LatencyModel | None = None) -> None:
        self.config = config
        self.latency: LatencyModel = latency or FixedLatency()
        self.metrics = VllmMetrics(config.model, config.max_model_len, config.legacy_cache_metric)
        self.prefix_cache = PrefixCache() if config.prefix_cache else None
        self.metrics.prefix_cache = self.prefix_cache
        self.truth = Truth()
        self._rng = random.Random(config.seed)
        self._generations = 0  # generation requests seen, for `fault_every`
        self._malformed = 0  # malformed-chunk faults served, to take the garbage events in turn
        self._tokens_in_use = 0
        self._engine: BatchingEngine[_LiveSeq] | None = None
        self._engine_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        if isinstance(self.latency, BatchingLatency):
            self._engine = BatchingEngine(self.latency, config.max_running)
            self._capacity = None  # the engine admits at most max_running at a time
        else:
            self._capacity = asyncio.Semaphore(config.max_running) if config.max_running > 0 else None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/version", self._version)
        if self.config.tokenize_endpoint:
            app.router.add_post("/tokenize", self._tokenize)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/mock/truth", self._get_truth)
        app.router.add_post("/mock/reset", self._reset_truth)
        app.on_cleanup.append(self._stop_engine)
        return app

    # ---- the batching engine ---------------------------------------------

    def _sync_engine_metrics(self) -> None:
        engine = self._engine
        if engine is not None:
            self.metrics.running = len(engine.running)
            self.metrics.waiting = len(engine.waiting)
            self._tokens_in_use = engine.kv_tokens

    def _submit(self, seq: _LiveSeq) -> None:
        assert self._engine is not None
        self._engine.submit(seq)
        self._sync_engine_metrics()
        if self._engine_task is None or self._engine_task.done():
            self._engine_task = asyncio.create_task(self._drive())
        self._wake.set()

    async def _drive(self) -> None:
        """The engine loop: one task runs every step of every request.

        Steps are laid end to end on a timeline anchored at the step start, so
        timer lateness does not add up over steps (it is re-anchored to now only
        when the loop fell a whole step behind). An idle engine starts its next
        step the moment a request arrives, as vLLM's busy loop does.
        """
        engine = self._engine
        assert engine is not None
        start = perf_counter()
        while True:
            step = engine.begin_step(start)
            self._sync_engine_metrics()
            if step is None:
                self._wake.clear()
                await self._wake.wait()
                start = perf_counter()
                continue
            end = start + step.duration
            delay = end - perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            emitted, _ = engine.end_step(end)
            for seq in emitted:
                seq.ready.set()
            self._sync_engine_metrics()
            start = end if perf_counter() - end < step.duration else perf_counter()

    async def _stop_engine(self, app: web.Application) -> None:
        task, self._engine_task = self._engine_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # ---- small endpoints -------------------------------------------------

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response()

    async def _models(self, request: web.Request) -> web.Response:
        cfg = self.config
        card = {
            "id": cfg.model,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "vllm",
            "root": cfg.model,
            "parent": None,
            "max_model_len": cfg.max_model_len,
            "permission": [],
        }
        return web.json_response({"object": "list", "data": [card]})

    async def _version(self, request: web.Request) -> web.Response:
        # vLLM's GET /version: {"version": vllm.__version__}.
        return web.json_response({"version": self.config.version})

    async def _tokenize(self, request: web.Request) -> web.Response:
        payload = await request.json()
        if "messages" in payload:
            count = CHAT_TEMPLATE_TOKENS + sum(
                count_tokens(str(m.get("content", ""))) for m in payload["messages"]
            )
        else:
            count = COMPLETIONS_BOS_TOKENS + count_tokens(str(payload.get("prompt", "")))
        # vLLM's response shape; the token ids themselves are placeholders.
        return web.json_response(
            {
                "count": count,
                "max_model_len": self.config.max_model_len,
                "tokens": list(range(count)),
                "token_strs": None,
            }
        )

    async def _metrics(self, request: web.Request) -> web.Response:
        self._sync_engine_metrics()
        return web.Response(text=self.metrics.render(self._tokens_in_use), content_type="text/plain")

    async def _get_truth(self, request: web.Request) -> web.Response:
        t = self.truth
        return web.json_response(
            {
                "read": t.read,
                "handled": t.handled,
                "first_flush": t.first_flush,
                "last_flush": t.last_flush,
                "chunks": t.chunks,
                # Add to a perf_counter reading to get unix time (to line up with result windows).
                "unix_minus_perf": time.time() - perf_counter(),
            }
        )

    async def _reset_truth(self, request: web.Request) -> web.Response:
        self.truth = Truth()
        return web.json_response({"ok": True})

    # ---- generation ------------------------------------------------------

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=False)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=True)

    async def _generate(self, request: web.Request, chat: bool) -> web.StreamResponse:
        body = await request.read()
        handled_at = perf_counter()
        read_at = _take_arrival(request, handled_at)
        try:
            payload = json.loads(body)
        except ValueError:
            return _error(400, "request body is not JSON")
        if not isinstance(payload, dict):
            return _error(400, "request body must be a JSON object")
        if payload.get("model") not in (None, self.config.model):
            return _error(404, f"The model `{payload.get('model')}` does not exist.")
        cfg = self.config
        if cfg.error_rate and self._rng.random() < cfg.error_rate:
            return _error(cfg.error_status, "injected fault")
        stream = bool(payload.get("stream"))
        fault = self._draw_fault()
        if fault == "huge-error":
            return await _huge_error(request, cfg.fault_bytes)
        if fault == "endless-event":
            return await _endless(request, _chunk_templates(cfg.model, chat)[0], chat, stream)
        if fault == "hang":
            return await _hang(request)
        garbage = self._garbage(chat) if fault == "malformed-chunk" else b""
        if garbage and not stream:
            return web.Response(body=garbage.removeprefix(b"data: "), content_type="application/json")
        if chat:
            messages = payload.get("messages") or []
            prompt_tokens = CHAT_TEMPLATE_TOKENS + sum(
                count_tokens(str(m.get("content", ""))) for m in messages
            )
        else:
            prompt_tokens = COMPLETIONS_BOS_TOKENS + count_tokens(str(payload.get("prompt", "")))
        length = answer_length(payload, cfg.default_output_tokens, cfg.eos_after_tokens)
        if isinstance(length, str):
            return _error(400, length)
        output_tokens = length
        if self.prefix_cache is not None:
            self.prefix_cache.lookup(prompt_tokens_of(payload, chat))
        faults = self._draw_faults(garbage)
        if self._engine is not None:
            seq = _LiveSeq(prompt_tokens, output_tokens, handled_at)
            return await self._generate_batched(request, chat, payload, seq, (read_at, handled_at), faults)

        metrics = self.metrics
        metrics.waiting += 1
        if self._capacity is not None:
            await self._capacity.acquire()
        metrics.waiting -= 1
        metrics.running += 1
        self._tokens_in_use += prompt_tokens + output_tokens
        try:
            started = perf_counter()
            first_at = started + self.latency.first_token_delay(prompt_tokens, metrics.running)
            include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
            if stream:
                response = await self._stream(
                    request, chat, prompt_tokens, output_tokens, include_usage, (read_at, handled_at), first_at,
                    faults,
                )  # fmt: skip
            else:
                await _sleep_until(first_at + self._itl_total(output_tokens))
                response = self._whole(chat, prompt_tokens, output_tokens)
            done = perf_counter()
            # The mock always generates max_tokens (as with ignore_eos): vLLM's reason is then "length".
            metrics.record_finished(
                prompt_tokens, output_tokens, first_at - read_at, done - read_at, "length"
            )
            return response
        finally:
            metrics.running -= 1
            self._tokens_in_use -= prompt_tokens + output_tokens
            if self._capacity is not None:
                self._capacity.release()

    def _draw_faults(self, garbage: bytes) -> _Faults:
        cfg = self.config
        cut = bool(cfg.cut_rate) and self._rng.random() < cfg.cut_rate
        stall = bool(cfg.stall_rate) and self._rng.random() < cfg.stall_rate
        return _Faults(cut, stall, garbage)

    def _draw_fault(self) -> str | None:
        """`config.fault` for every `fault_every`-th generation request, else None."""
        cfg = self.config
        if cfg.fault is None:
            return None
        self._generations += 1
        return cfg.fault if self._generations % cfg.fault_every == 0 else None

    def _garbage(self, chat: bool) -> bytes:
        events = malformed_events(chat)
        event = events[self._malformed % len(events)]
        self._malformed += 1
        return event + b"\n\n"

    def _itl_total(self, output_tokens: int) -> float:
        return sum(self.latency.inter_token_delay(self.metrics.running) for _ in range(output_tokens - 1))

    async def _generate_batched(
        self,
        request: web.Request,
        chat: bool,
        payload: dict[str, Any],
        seq: _LiveSeq,
        received: tuple[float, float],
        faults: _Faults,
    ) -> web.StreamResponse:
        """One request through the batching engine: queue, prefill, one token per engine step."""
        prompt_tokens = seq.prompt_tokens
        self._submit(seq)
        try:
            if payload.get("stream"):
                include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
                response = await self._stream_batched(request, chat, seq, include_usage, received, faults)
                if not seq.done:
                    return response  # cut, or the client left during a stall
            else:
                await seq.wait_beyond(seq.max_tokens - 1)
                response = self._whole(chat, prompt_tokens, seq.max_tokens)
            assert seq.first_token_at is not None
            ttft, e2e = seq.first_token_at - received[0], perf_counter() - received[0]
            self.metrics.record_finished(prompt_tokens, seq.max_tokens, ttft, e2e, "length")
            return response
        finally:
            if self._engine is not None and self._engine.abort(seq):  # the client left early
                self._sync_engine_metrics()

    async def _stream_batched(
        self,
        request: web.Request,
        chat: bool,
        seq: _LiveSeq,
        include_usage: bool,
        received: tuple[float, float],
        faults: _Faults,
    ) -> web.StreamResponse:
        """Write each token when the engine emits it; tokens emitted together go out in one write.

        A stall pauses the writing only: the engine keeps generating, and the
        tokens made meanwhile go out together afterwards. A cut aborts the
        request in the engine too (vLLM aborts a request whose client left).
        """
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        head, tail, last_tail = _chunk_templates(self.config.model, chat)
        output_tokens = seq.max_tokens
        first_flush = last_flush = 0.0
        sent = 0
        halfway = output_tokens // 2
        cut, stall, garbage = faults.cut, faults.stall, faults.garbage
        pending: list[bytes] = []
        if chat:
            pending.append(head + b'{"role":"assistant","content":""}' + tail)
        while sent < output_tokens:
            await seq.wait_beyond(sent)
            upto = seq.emitted
            if (cut or stall) and sent < halfway <= upto:
                upto = halfway
            while sent < upto:
                token = _TOKENS[sent % len(_TOKENS)].encode()
                end = last_tail if sent == output_tokens - 1 else tail
                if chat:
                    pending.append(head + b'{"content":"' + token + b'"}' + end)
                else:
                    pending.append(head + token + end)
                sent += 1
                if sent == 1 and garbage:
                    pending.append(garbage)
            await response.write(b"".join(pending))
            pending.clear()
            last_flush = perf_counter()
            if not first_flush:
                first_flush = last_flush
            if sent == halfway and cut:
                assert self._engine is not None
                self._engine.abort(seq)
                self._sync_engine_metrics()
                if request.transport is not None:
                    request.transport.abort()
                return response
            if sent == halfway and stall:
                stall = False
                if not await _stall(request, self.config.stall_seconds):
                    return response
        if include_usage:
            usage = json.dumps(_usage(seq.prompt_tokens, output_tokens), separators=(",", ":")).encode()
            usage_head = head.split(b'"choices"')[0]
            await response.write(usage_head + b'"choices":[],"usage":' + usage + b"}\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        if self.config.record_truth:
            self.truth.add(*received, first_flush, last_flush, output_tokens)
        return response

    def _whole(self, chat: bool, prompt_tokens: int, output_tokens: int) -> web.Response:
        text = "".join(_TOKENS[i % len(_TOKENS)] for i in range(output_tokens))
        usage = _usage(prompt_tokens, output_tokens)
        rid = uuid.uuid4().hex
        created = int(time.time())
        if chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "reasoning_content": None,
                    "content": text,
                    "tool_calls": [],
                },
                "logprobs": None,
                "finish_reason": "length",
                "stop_reason": None,
            }
            obj = {"id": f"chatcmpl-{rid}", "object": "chat.completion", "created": created,
                   "model": self.config.model, "choices": [choice], "usage": usage,
                   "prompt_logprobs": None}  # fmt: skip
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "length",
                      "stop_reason": None, "prompt_logprobs": None}  # fmt: skip
            obj = {"id": f"cmpl-{rid}", "object": "text_completion", "created": created,
                   "model": self.config.model, "choices": [choice], "usage": usage}  # fmt: skip
        return web.json_response(obj)

    async def _stream(
        self,
        request: web.Request,
        chat: bool,
        prompt_tokens: int,
        output_tokens: int,
        include_usage: bool,
        received: tuple[float, float],
        first_at: float,
        faults: _Faults,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        head, tail, last_tail = _chunk_templates(self.config.model, chat)
        first_flush = last_flush = 0.0
        due = first_at
        sent = 0
        halfway = output_tokens // 2
        cut, stall, garbage = faults.cut, faults.stall, faults.garbage
        pending: list[bytes] = []
        if chat:
            pending.append(head + b'{"role":"assistant","content":""}' + tail)
        while sent < output_tokens:
            now = perf_counter()
            if due > now:
                await asyncio.sleep(due - now)  # a chat role chunk waits here to go out with the first token
            # Every token already due goes out in one write, as a busy server coalesces them.
            now = perf_counter()
            while sent < output_tokens and due <= now:
                token = _TOKENS[sent % len(_TOKENS)].encode()
                if chat:
                    delta = b'{"content":"' + token + b'"}'
                    pending.append(head + delta + (last_tail if sent == output_tokens - 1 else tail))
                else:
                    pending.append(head + token + (last_tail if sent == output_tokens - 1 else tail))
                sent += 1
                if sent == 1 and garbage:
                    pending.append(garbage)
                due += self.latency.inter_token_delay(self.metrics.running)
                if sent == halfway and (cut or stall):
                    break
            if pending:
                await response.write(b"".join(pending))
                pending.clear()
                last_flush = perf_counter()
                if not first_flush:
                    first_flush = last_flush
            if sent == halfway and cut:
                # An abrupt end: the client sees a broken chunked body, as when a pod dies.
                if request.transport is not None:
                    request.transport.abort()
                return response
            if sent == halfway and stall:
                stall = False
                if not await _stall(request, self.config.stall_seconds):
                    return response  # the client gave up; nobody is left to write to
                due = perf_counter()
        if include_usage:
            usage = json.dumps(_usage(prompt_tokens, output_tokens), separators=(",", ":")).encode()
            usage_head = head.split(b'"choices"')[0]
            await response.write(usage_head + b'"choices":[],"usage":' + usage + b"}\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        if self.config.record_truth:
            self.truth.add(*received, first_flush, last_flush, output_tokens)
        return response


def _chunk_templates(model: str, chat: bool) -> tuple[bytes, bytes, bytes]:
    """Byte prefix/suffixes around a token, exactly as vLLM serialises its chunks."""
    rid = uuid.uuid4().hex
    created = int(time.time())
    if chat:
        head = (
            f'data: {{"id":"chatcmpl-{rid}","object":"chat.completion.chunk","created":{created},'
            f'"model":"{model}","choices":[{{"index":0,"delta":'
        ).encode()
        tail = b',"logprobs":null,"finish_reason":null}]}\n\n'
        last = b',"logprobs":null,"finish_reason":"length","stop_reason":null}]}\n\n'
    else:
        head = (
            f'data: {{"id":"cmpl-{rid}","object":"text_completion","created":{created},'
            f'"model":"{model}","choices":[{{"index":0,"text":"'
        ).encode()
        tail = b'","logprobs":null,"finish_reason":null,"stop_reason":null}]}\n\n'
        last = b'","logprobs":null,"finish_reason":"length","stop_reason":null}]}\n\n'
    return head, tail, last


def _usage(prompt_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + output_tokens,
        "completion_tokens": output_tokens,
    }


def _error(status: int, message: str) -> web.Response:
    # vLLM's ErrorResponse shape.
    kinds = {400: "BadRequestError", 404: "NotFoundError", 429: "TooManyRequests"}
    body = {"object": "error", "message": message, "type": kinds.get(status, "InternalServerError"),
            "param": None, "code": status}  # fmt: skip
    return web.json_response(body, status=status)


def _client_left(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def _huge_error(request: web.Request, size: int) -> web.StreamResponse:
    """An HTTP 500 whose JSON body is `size` bytes, written in 64 KiB pieces until done or the client leaves."""
    response = web.StreamResponse(status=500, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    head, end = b'{"object":"error","type":"InternalServerError","code":500,"message":"', b'"}'
    piece = b"x" * 65536
    left = size - len(head) - len(end)
    with contextlib.suppress(ConnectionError):
        await response.write(head)
        while left > 0 and not _client_left(request):
            await response.write(piece[:left])
            left -= len(piece)
        if left <= 0:
            await response.write(end)
            await response.write_eof()
    return response


async def _endless(request: web.Request, head: bytes, chat: bool, stream: bool) -> web.StreamResponse:
    """A content event (streamed) or a JSON body (not) that starts well and never ends: text, no separator."""
    content_type = "text/event-stream" if stream else "application/json"
    response = web.StreamResponse(headers={"Content-Type": content_type})
    await response.prepare(request)
    if stream:
        head += b'{"content":"' if chat else b""
    elif chat:
        head = b'{"id":"chatcmpl-0","object":"chat.completion","choices":[{"index":0,"message":{"content":"'
    else:
        head = b'{"id":"cmpl-0","object":"text_completion","choices":[{"index":0,"text":"'
    text = "".join(_TOKENS).encode() * 1024
    with contextlib.suppress(ConnectionError):
        await response.write(head)
        while not _client_left(request):
            await response.write(text)
    return response


async def _hang(request: web.Request) -> web.Response:
    """Read the request and never answer; give up once the client has."""
    while not _client_left(request):  # noqa: ASYNC110 - aiohttp has no event for a client that left
        await asyncio.sleep(0.5)
    return web.Response(status=503)


async def _stall(request: web.Request, seconds: float) -> bool:
    """Pause, but stop early once the client has gone; False if it has."""
    end = perf_counter() + seconds
    while (left := end - perf_counter()) > 0:
        await asyncio.sleep(min(left, 0.05))
        if _client_left(request):
            return False
    return True


async def _sleep_until(deadline: float) -> None:
    delay = deadline - perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def serve(
    config: MockConfig, latency: LatencyModel | None = None
) -> tuple[web.AppRunner, MockServer, int]:
    """Start the server; returns the runner (call .cleanup()), the server and the bound port."""
    server = MockServer(config, latency)
    runner = _TimedAppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, backlog=4096)
    await site.start()
    port = config.port
    if port == 0 and runner.addresses:
        port = int(runner.addresses[0][1])
    return runner, server, port


async def serve_forever(config: MockConfig, latency: LatencyModel | None = None) -> None:
    runner, _, port = await serve(config, latency)
    print(json.dumps({"event": "mock_server_listening", "host": config.host, "port": port}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
