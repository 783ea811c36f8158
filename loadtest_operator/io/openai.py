"""The operator's one call to the server under test: which model it serves (GET /v1/models)."""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger("llmload.operator")
DISCOVERY_TIMEOUT_SECONDS = 5.0


class ModelDiscovery:
    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client or httpx.AsyncClient()

    async def first_model(self, url: str) -> str | None:
        """The first model of /v1/models; None (loadgen then asks itself) when the server does not say."""
        if not url:
            return None
        try:
            resp = await self._client.get(f"{url}/v1/models", timeout=DISCOVERY_TIMEOUT_SECONDS)
            resp.raise_for_status()
            models = resp.json().get("data") or []
            return str(models[0]["id"]) if models else None
        except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            log.info("model discovery at %s failed (%s); loadgen will ask itself", url, exc)
            return None
