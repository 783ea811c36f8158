"""Which Prometheus the operator queries for a spec, with which token (both kinds), or why it will not:
only the chart's Prometheus or one the chart allows (core/fetches.py), and a token Secret only where the
operator may read Secrets and may use that one (loadtest/safety.py)."""

from __future__ import annotations

from loadtest_operator.api.spec import Prometheus
from loadtest_operator.core.secrets import secret_text
from loadtest_operator.loadtest.safety import prometheus_token_refusal
from loadtest_operator.reconcile.context import Context

FIELD = "spec.prometheus.bearerTokenSecretRef"


async def prometheus_access(
    ctx: Context, namespace: str, prometheus: Prometheus | None
) -> tuple[str | None, str | None] | str:
    """(url, token) to query with, or the refusal's message. The url is None when none is configured."""
    spec_url = prometheus.url if prometheus else None
    refused = ctx.fetches.prometheus_refusal(spec_url, "spec.prometheus.url")
    if refused is not None:
        return refused
    url = spec_url or ctx.settings.prometheus_url
    ref = prometheus.bearer_token_secret_ref if prometheus else None
    if ref is None:
        default = ctx.settings.prometheus_bearer_token
        own = url == ctx.settings.prometheus_url and default is not None
        return url, default.get_secret_value() if own and default is not None else None
    settings = ctx.settings
    secret = await ctx.kube.secret(namespace, ref.name) if settings.read_secrets else None
    refused = prometheus_token_refusal(
        secret, ref.name, FIELD, webhook=settings.admission_webhook, read_secrets=settings.read_secrets
    )
    if refused is not None:
        return refused
    token = secret_text(secret, ref.key)
    if token is None:
        return f"{FIELD}: Secret {ref.name!r} has no key {ref.key!r}; check the key's name with its owner"
    return url, token
