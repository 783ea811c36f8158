"""Which Prometheus the operator queries for a spec, with which token (both kinds), or why it will not:
only the chart's Prometheus or one the chart allows (core/fetches.py), at addresses outside the refused
ranges, resolved once and pinned for the queries (io/addresses.py), and a token Secret only where the
operator may read Secrets and may use that one (loadtest/safety.py)."""

from __future__ import annotations

from dataclasses import dataclass

from loadtest_operator.api.spec import Prometheus
from loadtest_operator.core.secrets import secret_text
from loadtest_operator.io.addresses import Pin, pin
from loadtest_operator.loadtest.safety import prometheus_token_refusal
from loadtest_operator.reconcile.context import Context
from loadtest_operator.reconcile.reviewed import Review

FIELD = "spec.prometheus.bearerTokenSecretRef"


@dataclass(frozen=True)
class PrometheusAccess:
    url: str | None  # None: no Prometheus configured
    token: str | None
    pin: Pin | None = None  # the checked addresses the queries go to (None with no url)


async def prometheus_access(
    ctx: Context, namespace: str, prometheus: Prometheus | None, *, review: Review | None = None
) -> PrometheusAccess | str:
    """Where to query, with which token, or the refusal's message. `review`: whether the admission
    webhook reviewed this object's author (needed when the spec names a token Secret; None: not
    reviewed unless the operator runs with a webhook)."""
    spec_url = prometheus.url if prometheus else None
    refused = ctx.fetches.prometheus_refusal(spec_url, "spec.prometheus.url")
    if refused is not None:
        return refused
    url = spec_url or ctx.settings.prometheus_url
    checked: Pin | None = None
    if url:
        where = "spec.prometheus.url" if spec_url else "the operator's Prometheus (LLMLOAD_PROMETHEUS_URL)"
        pinned = await pin(url, ctx.fetches, where, ctx.resolver, api_server=False)
        if isinstance(pinned, str):
            return pinned
        checked = pinned
    ref = prometheus.bearer_token_secret_ref if prometheus else None
    if ref is None:
        default = ctx.settings.prometheus_bearer_token
        own = url == ctx.settings.prometheus_url and default is not None
        return PrometheusAccess(
            url, default.get_secret_value() if own and default is not None else None, checked
        )
    settings = ctx.settings
    secret = await ctx.kube.secret(namespace, ref.name) if settings.read_secrets else None
    webhook = settings.admission_webhook if review is None else review.reviewed
    refused = prometheus_token_refusal(
        secret,
        ref.name,
        FIELD,
        webhook=webhook,
        read_secrets=settings.read_secrets,
        unreviewed=review.gap if review is not None else None,
    )
    if refused is not None:
        return refused
    token = secret_text(secret, ref.key)
    if token is None:
        return f"{FIELD}: Secret {ref.name!r} has no key {ref.key!r}; check the key's name with its owner"
    return PrometheusAccess(url, token, checked)
