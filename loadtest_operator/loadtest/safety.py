"""What the operator refuses to use on a spec author's behalf (pure; docs/security.md): an image outside
the allow-list, a ServiceAccount-token Secret, a Secret that did not opt in where no admission webhook
reviewed the author's rights, and a target in a refused address range."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadtest_operator.api import LoadTestReason, LoadTestSpec
from loadtest_operator.core.admission import (
    image_refusal,
    is_service_account_token,
    opt_in_refusal,
    opted_in,
    service_account_token_refusal,
    unseen_opt_in_refusal,
)
from loadtest_operator.core.problems import Problem

R = LoadTestReason


def image_problems(spec: Mapping[str, Any], allowed: Sequence[str]) -> list[Problem]:
    message = image_refusal(spec, allowed)
    return [Problem(R.IMAGE_NOT_ALLOWED, message, "spec.loadGenerator.image")] if message else []


def secret_refusal(
    secret: Mapping[str, Any] | None, name: str, field: str, *, webhook: bool, unreviewed: str | None = None
) -> str | None:
    """Why the operator will not use this Secret (already read), or None. A missing Secret is for the
    caller to report. `webhook`: the admission webhook reviewed the author (`unreviewed`: why it did not,
    though installed)."""
    if secret is None:
        return None
    if is_service_account_token(secret):
        return service_account_token_refusal(name, field)
    if not webhook and not opted_in(secret):
        return opt_in_refusal("Secret", name, field, unreviewed)
    return None


def secret_problems(
    spec: LoadTestSpec,
    secret: Mapping[str, Any] | None,
    *,
    webhook: bool,
    unreviewed: str | None = None,
    secret_read: bool = True,
) -> list[Problem]:
    ref = spec.target.api_key_secret_ref
    field = "spec.target.apiKeySecretRef"
    if ref is not None and not webhook and unreviewed and not secret_read:
        return [Problem(R.NOT_OPTED_IN, unseen_opt_in_refusal(ref.name, field, unreviewed), field)]
    message = secret_refusal(secret, ref.name, field, webhook=webhook, unreviewed=unreviewed) if ref else None
    if message is None:
        return []
    reason = R.SERVICE_ACCOUNT_TOKEN_REFUSED if is_service_account_token(secret) else R.NOT_OPTED_IN
    return [Problem(reason, message, field)]


def address_problems(refused: str | None) -> list[Problem]:
    return [Problem(R.ADDRESS_REFUSED, refused, "spec.target")] if refused else []


def prometheus_token_refusal(
    secret: Mapping[str, Any] | None,
    name: str,
    field: str,
    *,
    webhook: bool,
    read_secrets: bool,
    unreviewed: str | None = None,
) -> str | None:
    """Why the operator will not use the Prometheus bearer token Secret `name`, or None."""
    if not read_secrets:
        return (
            f"{field}: the operator reads no Secrets (the chart's rbac.readSecrets=false), so it cannot "
            "send a token of this namespace to Prometheus; leave the field unset to use the operator's own "
            "Prometheus credentials (the chart's prometheus.bearerTokenSecret), or ask the platform team "
            "for rbac.readSecrets=true"
        )
    if secret is None:
        return f"{field}: no Secret {name!r} in this namespace"
    return secret_refusal(secret, name, field, webhook=webhook, unreviewed=unreviewed)
