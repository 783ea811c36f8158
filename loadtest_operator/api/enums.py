"""Enumerations of the LoadTest API. Values are CamelCase words, as Kubernetes conventions ask."""

from enum import StrEnum


class Api(StrEnum):
    """Which OpenAI-compatible endpoint to call: /v1/chat/completions or /v1/completions."""

    CHAT = "Chat"
    COMPLETIONS = "Completions"


class LoadMode(StrEnum):
    """How a load level is interpreted: in-flight requests (Concurrency) or requests per second (Rate)."""

    CONCURRENCY = "Concurrency"
    RATE = "Rate"


class Arrival(StrEnum):
    """Spacing of request starts in Rate mode: evenly spaced (Constant) or a Poisson process."""

    CONSTANT = "Constant"
    POISSON = "Poisson"


class Placement(StrEnum):
    """Where load-generator pods run relative to the target's pods."""

    SAME_NODE = "SameNode"
    SAME_ZONE = "SameZone"
    ANYWHERE = "Anywhere"


class Distribution(StrEnum):
    """Shape of a token-count distribution."""

    FIXED = "Fixed"
    UNIFORM = "Uniform"
    NORMAL = "Normal"


class Phase(StrEnum):
    """Coarse, human-oriented summary of the conditions. Conditions are the source of truth."""

    PENDING = "Pending"
    REJECTED = "Rejected"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class ConditionStatus(StrEnum):
    """metav1.ConditionStatus."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class LatencyFrom(StrEnum):
    """Where a level's headline latencies (ttft, e2e) start: the time the arrival process scheduled the
    request (Rate mode: queueing in the client or behind the in-flight cap counts) or the time it was
    sent (Concurrency mode, where a user sends when the last reply ends)."""

    SCHEDULED_TIME = "ScheduledTime"
    SEND_TIME = "SendTime"
