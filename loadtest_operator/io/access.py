"""SubjectAccessReviews: ask the API server whether a user (with their groups and extra) holds a right.

The admission webhook asks them as the author of a LoadTest or CapacityRecommendation; the decision of
which rights to ask about, and what to answer, is pure (core/admission.py). Creating a
SubjectAccessReview needs `create` on `subjectaccessreviews` (authorization.k8s.io), cluster-wide.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from loadtest_operator.core.admission import Access, Requester
from loadtest_operator.io.kube import REQUEST_TIMEOUT, Unanswered, unanswered_reason


class AccessReviewError(RuntimeError):
    """The API server did not answer a review (the webhook then refuses: unknown is not allowed)."""


def review_body(user: Requester, access: Access) -> dict[str, object]:
    spec: dict[str, object] = {"user": user.username, "resourceAttributes": access.attributes()}
    if user.uid:
        spec["uid"] = user.uid
    if user.groups:
        spec["groups"] = list(user.groups)
    if user.extra:
        spec["extra"] = {k: list(v) for k, v in user.extra.items()}
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}


class AccessReviewer:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.api = client.AuthorizationV1Api(api_client)

    async def allowed(self, user: Requester, access: Access) -> bool:
        try:
            resp = await asyncio.to_thread(
                self.api.create_subject_access_review,
                review_body(user, access),
                _preload_content=False,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            raise AccessReviewError(
                f"SubjectAccessReview of {access.describe()} failed: HTTP {exc.status} {exc.reason}"
            ) from exc
        except Unanswered as exc:
            raise AccessReviewError(
                f"SubjectAccessReview of {access.describe()} failed: {unanswered_reason(exc)}"
            ) from exc
        status = json.loads(resp.data).get("status") or {}
        return bool(status.get("allowed")) and not status.get("denied")

    async def answers(self, user: Requester, accesses: Sequence[Access]) -> dict[Access, bool]:
        results = await asyncio.gather(*(self.allowed(user, a) for a in accesses))
        return dict(zip(accesses, results, strict=True))
