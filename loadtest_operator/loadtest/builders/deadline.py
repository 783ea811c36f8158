"""A hard deadline for each shard, derived from the spec, so no run can hang forever.

The bound is a worst case, not an estimate: every request may take its full timeout. It is loose on
purpose; a deadline that fires on a slow but healthy run would be worse than a late one. Users who want
a tighter bound set spec.loadGenerator.deadlineSeconds.
"""

import math

from loadtest_operator.api import Load, LoadMode, LoadTestSpec

# Scheduling, image pull (IfNotPresent), process start, and the final result upload.
STARTUP_SLACK_SECONDS = 300
# Several shards wait for each other before each level (a tick of the operator plus the start's lead).
BARRIER_SLACK_SECONDS_PER_LEVEL = 15


def shard_deadline_seconds(spec: LoadTestSpec) -> int:
    """activeDeadlineSeconds for every shard Job of `spec`."""
    if spec.load_generator.deadline_seconds is not None:
        return spec.load_generator.deadline_seconds
    load = spec.load
    total = STARTUP_SLACK_SECONDS
    if spec.load_generator.parallelism > 1:
        total += BARRIER_SLACK_SECONDS_PER_LEVEL * len(load.levels)
    if load.warmup_requests:
        total += _requests_worst_case_seconds(load, load.levels[0], load.warmup_requests)
    for level in load.levels:
        if load.level_duration_seconds is not None:
            # Requests still in flight when the level's time is up may take one more timeout.
            total += load.level_duration_seconds + load.timeout_seconds
        else:
            total += _requests_worst_case_seconds(load, level, load.requests_per_level or 0)
    return total


def _requests_worst_case_seconds(load: Load, level: int, requests: int) -> int:
    """Seconds to finish `requests` at `level` when every request takes the full timeout. Shards split
    both the requests and the level evenly, so the ratio (and the bound) is the same for each shard."""
    timeout = load.timeout_seconds
    if load.mode is LoadMode.CONCURRENCY:
        return math.ceil(requests / level) * timeout
    sending = math.ceil(requests / level)
    if load.max_concurrency is not None:
        sending = max(sending, math.ceil(requests / load.max_concurrency) * timeout)
    return sending + timeout
