"""The admission review of one LoadTest or CapacityRecommendation request: which rights the author needs
(core/admission.py), the API server's answers (SubjectAccessReviews as that author), the verdict."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadtest_operator.core.admission import (
    Requester,
    Verdict,
    decide,
    image_refusal,
    requirements,
    reviews,
    spec_changed,
)
from loadtest_operator.io.access import AccessReviewer, AccessReviewError
from loadtest_operator.reconcile.settings import OperatorSettings


async def review(
    reviewer: AccessReviewer,
    settings: OperatorSettings,
    kind: str,
    namespace: str,
    userinfo: Mapping[str, Any],
    new: Mapping[str, Any] | None,
    old: Mapping[str, Any] | None = None,
) -> Verdict:
    user = Requester.of(userinfo)
    if new is None or not spec_changed(old, new):
        return Verdict(True)
    if settings.namespaces and namespace not in settings.namespaces:
        return Verdict(True)  # not this operator's namespace: another operator (or none) acts on it
    spec: Mapping[str, Any] = new.get("spec") or {}
    image = image_refusal(spec, settings.image_allow_list)
    if user.username in settings.trusted_users:
        # The operator's own writes (a CapacityRecommendation's child LoadTests) copy a reviewed spec.
        return decide(user, [], {}, image)
    needed = requirements(kind, namespace, spec)
    try:
        answers = await reviewer.answers(user, reviews(needed))
    except AccessReviewError as exc:
        return Verdict(False, f"could not check your rights, so the request is refused: {exc}")
    return decide(user, needed, answers, image)
