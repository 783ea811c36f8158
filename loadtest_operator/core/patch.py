"""The one merge-patch helper: what to send so that the status read becomes the status wanted."""

from collections.abc import Mapping
from typing import Any

# Keys other writers keep in status (kopf's own bookkeeping): never nulled by us.
FOREIGN_STATUS_KEYS = frozenset({"kopf"})


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) turning `old` into `new`: changed keys, nested objects as their own
    patches, and an explicit null for every key `new` drops (a merge patch keeps absent keys). Empty when
    nothing changed, so a tick that changes nothing writes nothing."""
    patch: dict[str, Any] = {}
    for key, value in new.items():
        before = old.get(key)
        if isinstance(value, Mapping) and isinstance(before, Mapping):
            nested = merge_patch(before, value)
            if nested:
                patch[key] = nested
        elif before != value:
            patch[key] = value
    for key in old:
        if key not in new and key not in FOREIGN_STATUS_KEYS and old[key] is not None:
            patch[key] = None
    return patch
