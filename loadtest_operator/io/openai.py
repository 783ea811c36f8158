"""The operator's one call to the server under test: which model it serves (GET /v1/models).

Bounded in size and time: a listing is a few hundred bytes, so the body is read as a stream and dropped
past MAX_MODELS_BYTES, and the whole call (connect, headers, body) ends at DISCOVERY_TIMEOUT_SECONDS,
however slowly the server trickles. Either way the answer is None: loadgen then asks the server itself.
"""

from __future__ import annotations

import asyncio
import json
import logging

import httpx

log = logging.getLogger("llmload.operator")
DISCOVERY_TIMEOUT_SECONDS = 5.0
MAX_MODELS_BYTES = 1 << 20  # 1 MiB: thousands of models' ids and metadata


class ModelsTooLargeError(ValueError):
    """The /v1/models body is larger than any listing."""


class ModelDiscovery:
    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout_seconds: float = DISCOVERY_TIMEOUT_SECONDS,
        max_bytes: int = MAX_MODELS_BYTES,
    ) -> None:
        self._client = client or httpx.AsyncClient()
        self._timeout = timeout_seconds
        self._max_bytes = max_bytes

    async def first_model(self, url: str) -> str | None:
        """The first model of /v1/models; None (loadgen then asks itself) when the server does not say."""
        if not url:
            return None
        try:
            async with asyncio.timeout(self._timeout):
                body = await self._read(f"{url}/v1/models")
            models = json.loads(body).get("data") or []
            return str(models[0]["id"]) if models else None
        except TimeoutError:
            log.info("model discovery at %s took over %gs; loadgen will ask itself", url, self._timeout)
        except (
            httpx.HTTPError,
            ValueError,
            KeyError,
            IndexError,
            TypeError,
            AttributeError,
            RecursionError,
        ) as exc:
            log.info("model discovery at %s failed (%s); loadgen will ask itself", url, exc)
        return None

    async def _read(self, url: str) -> bytes:
        """The body as sent, at most `max_bytes` of it. Identity encoding is asked for and a compressed
        body refused, so a small body cannot inflate into a large one either."""
        headers = {"Accept-Encoding": "identity"}
        async with self._client.stream("GET", url, headers=headers, timeout=self._timeout) as resp:
            resp.raise_for_status()
            encoding = resp.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("", "identity"):
                raise ValueError(f"the server compressed /v1/models ({encoding}) though asked not to")
            if int(resp.headers.get("content-length") or 0) > self._max_bytes:
                raise ModelsTooLargeError(f"/v1/models announces {resp.headers['content-length']} bytes")
            body = bytearray()
            async for chunk in resp.aiter_raw():
                body += chunk
                if len(body) > self._max_bytes:
                    raise ModelsTooLargeError(f"the /v1/models body exceeds {self._max_bytes} bytes")
            return bytes(body)
