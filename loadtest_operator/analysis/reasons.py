"""Condition reasons the operator sets, in one place so handlers, docs and tests agree.

Validation reasons (one per problem) live with their checks in `validation`; these are the reasons of the
run's lifecycle.
"""

# Accepted
VALID = "Valid"
# Running
SHARDS_STARTING = "ShardsStarting"
SHARDS_RUNNING = "ShardsRunning"
RUN_FINISHED = "RunFinished"
# Succeeded
RUN_IN_PROGRESS = "RunInProgress"
COMPLETED = "Completed"
CRITERIA_NOT_MET = "CriteriaNotMet"
SHARD_FAILED = "ShardFailed"
SHARD_DELETED = "ShardDeleted"
UNSCHEDULABLE = "Unschedulable"
DEADLINE_EXCEEDED = "DeadlineExceeded"
