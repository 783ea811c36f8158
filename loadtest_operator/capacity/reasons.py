"""Reasons of a CapacityRecommendation's Ready condition (CamelCase words)."""

READY = "Ready"

SEARCHING = "Searching"
RECOMMENDED = "Recommended"
SLO_UNREACHABLE = "SloUnreachable"
TARGET_UNAVAILABLE = "TargetUnavailable"
INVALID_SPEC = "InvalidSpec"
CHILD_FAILED = "ChildFailed"
PROMETHEUS_UNAVAILABLE = "PrometheusUnavailable"
