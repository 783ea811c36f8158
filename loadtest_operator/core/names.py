"""Names and label values that the API server accepts, cut to length the same way everywhere."""

import hashlib
import re
from collections.abc import Mapping

# Label values, and names that end up in one (a Job's name is its pods' job-name label).
MAX_LABEL_LENGTH = 63


def trim_name(name: str, length: int) -> str:
    """At most `length` characters of a DNS name, ending in an alphanumeric as DNS names must."""
    return re.sub(r"[^a-z0-9]+$", "", name[:length])


def label_value(value: str) -> str:
    """`value` cut to a valid label value: at most 63 characters, alphanumeric at both ends."""
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value[:MAX_LABEL_LENGTH])


def short_hash(text: str, length: int) -> str:
    """`length` hex characters of the SHA-256 of `text`: a stable token for deterministic names."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def label_selector(labels: Mapping[str, str]) -> str:
    """`labels` as a label-selector string for list calls, in a stable order."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
