"""Field types both kinds carry: a LoadTest's `load` and a CapacityRecommendation's spec (which hands them
to its child LoadTests unchanged). One constraint and one description per field, so the two CRDs cannot
drift apart; the defaults are set where the field is declared, from the constants here.
"""

from typing import Annotated

from pydantic import Field

DEFAULT_WARMUP_REQUESTS = 0
DEFAULT_TIMEOUT_SECONDS = 120

RequestsPerLevel = Annotated[
    int | None,
    Field(ge=1, le=10_000_000, description="Requests measured per level. Set this or levelDurationSeconds."),
]
LevelDurationSeconds = Annotated[
    int | None,
    Field(ge=1, le=86_400, description="Seconds measured per level. Set this or requestsPerLevel."),
]
WarmupRequests = Annotated[
    int,
    Field(
        ge=0,
        le=1_000_000,
        description="Requests sent before the first measured level and left out of every result (a "
        "CapacityRecommendation sends them before each measurement).",
    ),
]
RequestTimeoutSeconds = Annotated[
    int, Field(ge=1, le=3_600, description="Per-request timeout; a timed-out request is an error.")
]
