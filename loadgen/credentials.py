"""Never send a Kubernetes ServiceAccount token to the server under test.

The operator reads no Secret by default, so it cannot see a referenced Secret's type; the shard can see
the value. A ServiceAccount token is a JWT whose claims name Kubernetes: legacy tokens have
`iss: kubernetes/serviceaccount` and `kubernetes.io/serviceaccount/...` claims, bound tokens a
`kubernetes.io` claim. Such a key is refused before any request, whatever Secret type it came from.
"""

from __future__ import annotations

import base64
import binascii
import json


def is_service_account_token(value: str) -> bool:
    parts = value.strip().split(".")
    if len(parts) != 3:
        return False
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return False
    if not isinstance(claims, dict):
        return False
    return (
        claims.get("iss") == "kubernetes/serviceaccount"
        or "kubernetes.io" in claims
        or any(str(k).startswith("kubernetes.io/serviceaccount/") for k in claims)
    )


def refuse_service_account_token(value: str, source: str) -> str:
    if is_service_account_token(value):
        raise ValueError(
            f"the API key in {source} is a Kubernetes ServiceAccount token; loadgen never sends cluster "
            "credentials to a server: put the server's own key in the Secret"
        )
    return value
