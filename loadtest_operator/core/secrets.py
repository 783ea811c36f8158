"""Reading one key of a Secret object already fetched (pure)."""

import base64
import binascii
from collections.abc import Mapping
from typing import Any


def secret_text(secret: Mapping[str, Any] | None, key: str) -> str | None:
    """The key's value as text, stripped; None when the Secret or the key is missing or not UTF-8."""
    encoded = ((secret or {}).get("data") or {}).get(key)
    if not encoded:
        return None
    try:
        return base64.b64decode(encoded).decode().strip() or None
    except (binascii.Error, UnicodeDecodeError):
        return None
