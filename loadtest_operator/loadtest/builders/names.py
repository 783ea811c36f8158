"""Deterministic names of a run's objects, so a retried or restarted reconcile finds what it created.

Every name is `<loadtest>-<run token>-<suffix>`. The run token hashes the LoadTest's uid with its
runId: a LoadTest deleted and re-created under the same name (whose old Jobs may still be being
garbage-collected) and every new runId get fresh names, so "409 AlreadyExists" always means "mine".
"""

from dataclasses import dataclass

from loadtest_operator.core.names import MAX_LABEL_LENGTH, short_hash, trim_name
from loadtest_operator.core.owner import Owner

# Job names end up in the pods' job-name label, whose values are limited to 63 characters; keeping
# every object of a run within that limit keeps them all under one recognisable prefix.
MAX_NAME_LENGTH = MAX_LABEL_LENGTH
RUN_TOKEN_LENGTH = 6
# The longest suffix a run uses: "-result-" plus a shard index up to 64.
_LONGEST_SUFFIX = len("-result-64")


def run_token(uid: str, run_id: int) -> str:
    """Six hex characters identifying (LoadTest uid, runId)."""
    return short_hash(f"{uid}/{run_id}", RUN_TOKEN_LENGTH)


@dataclass(frozen=True, slots=True)
class RunNames:
    """Names of every object of one run."""

    prefix: str

    def job(self, shard_index: int) -> str:
        return f"{self.prefix}-shard-{shard_index}"

    def result_config_map(self, shard_index: int) -> str:
        return f"{self.prefix}-result-{shard_index}"

    def result_config_maps(self, shard_count: int) -> list[str]:
        return [self.result_config_map(i) for i in range(shard_count)]

    @property
    def run_config_map(self) -> str:
        return f"{self.prefix}-config"

    @property
    def service_account(self) -> str:
        return f"{self.prefix}-loadgen"

    @property
    def role(self) -> str:
        return f"{self.prefix}-loadgen"

    @property
    def role_binding(self) -> str:
        return f"{self.prefix}-loadgen"


def run_names(owner: Owner, run_id: int) -> RunNames:
    """The names for `owner`'s run `run_id`."""
    token = run_token(owner.uid, run_id)
    budget = MAX_NAME_LENGTH - _LONGEST_SUFFIX - len(token) - 1
    return RunNames(prefix=f"{trim_name(owner.name, budget)}-{token}")
