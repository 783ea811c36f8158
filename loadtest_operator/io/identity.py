"""TokenReviews: ask the API server who a bearer token belongs to (the results service authenticates
every request this way; it keeps no keys of its own). Creating a TokenReview needs `create` on
`tokenreviews` (authentication.k8s.io), cluster-wide."""

from __future__ import annotations

import asyncio
import json

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from loadtest_operator.core.admission import Requester
from loadtest_operator.io.kube import REQUEST_TIMEOUT, Unanswered, unanswered_reason


class TokenReviewError(RuntimeError):
    """The API server did not answer the review (the service answers 503: unknown is not allowed)."""


def token_review_body(token: str, audiences: tuple[str, ...] = ()) -> dict[str, object]:
    spec: dict[str, object] = {"token": token}
    if audiences:
        spec["audiences"] = list(audiences)
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}


class TokenReviewer:
    def __init__(self, api_client: client.ApiClient, audiences: tuple[str, ...] = ()) -> None:
        self.api = client.AuthenticationV1Api(api_client)
        self.audiences = audiences

    async def review(self, token: str) -> Requester | None:
        """The token's user, or None when the API server does not accept the token."""
        try:
            resp = await asyncio.to_thread(
                self.api.create_token_review,
                token_review_body(token, self.audiences),
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            # The message never holds the token: the body is ours, the API server's reply does not echo it.
            raise TokenReviewError(f"TokenReview failed: HTTP {exc.status} {exc.reason}") from exc
        except Unanswered as exc:
            raise TokenReviewError(f"TokenReview failed: {unanswered_reason(exc)}") from exc
        status = json.loads(resp.data).get("status") or {}
        if not status.get("authenticated"):
            return None
        user = Requester.of(status.get("user") or {})
        return user if user.username else None
