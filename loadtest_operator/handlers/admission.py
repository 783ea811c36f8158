"""The validating admission webhook of both kinds: thin; the review is reconcile/admission.py.

Registered only when the operator serves a webhook (LLMLOAD_WEBHOOK_PORT): kopf refuses to start with
admission handlers and no server. The ValidatingWebhookConfiguration comes from the chart (not managed by
kopf: that would need cluster-wide write access to webhook configurations)."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from loadtest_operator.api import CAPACITY_KIND, CAPACITY_PLURAL, GROUP, KIND, PLURAL, VERSION
from loadtest_operator.reconcile.admission import review
from loadtest_operator.reconcile.context import Context

# The paths of the two webhooks (kopf serves a handler at /<its id>); the chart's configuration uses them.
LOADTEST_WEBHOOK = "validate-loadtest"
CAPACITY_WEBHOOK = "validate-capacityrecommendation"


def register(registry: kopf.OperatorRegistry) -> None:
    for plural, kind, handler_id in (
        (PLURAL, KIND, LOADTEST_WEBHOOK),
        (CAPACITY_PLURAL, CAPACITY_KIND, CAPACITY_WEBHOOK),
    ):
        _register(registry, plural, kind, handler_id)


def _register(registry: kopf.OperatorRegistry, plural: str, kind: str, handler_id: str) -> None:
    @kopf.on.validate(
        GROUP, VERSION, plural, id=handler_id, operations=["CREATE", "UPDATE"], registry=registry
    )
    async def validate(
        body: kopf.Body,
        userinfo: kopf.UserInfo,
        memo: Any,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        **kwargs: Any,
    ) -> None:
        ctx: Context = memo["ctx"]
        old: kopf.Body | None = kwargs.get("old")
        new: kopf.Body | None = kwargs.get("new")
        if ctx.reviewer is None:
            raise kopf.AdmissionError("the operator has no SubjectAccessReview client", code=500)
        namespace = str(body.get("metadata", {}).get("namespace") or "")
        verdict = await review(ctx.reviewer, ctx.settings, kind, namespace, dict(userinfo), new, old)
        if not verdict.allowed:
            ctx.log.info(
                "refused %s %s/%s by %s: %s",
                kind,
                namespace,
                body.get("metadata", {}).get("name"),
                userinfo.get("username"),
                verdict.message,
            )
            raise kopf.AdmissionError(verdict.message, code=403)
