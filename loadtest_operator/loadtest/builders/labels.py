"""Labels on a run's objects: the app.kubernetes.io recommended set plus llmload.io selectors."""

from loadtest_operator.core.names import label_value
from loadtest_operator.core.owner import Owner

APP_NAME = "llmload-loadgen"
MANAGED_BY = "llmload-operator"
LOADTEST_LABEL = "llmload.io/loadtest"
# LoadTest names can be longer than a label value (63); the uid label selects exactly.
LOADTEST_UID_LABEL = "llmload.io/loadtest-uid"
RUN_ID_LABEL = "llmload.io/run-id"
SHARD_LABEL = "llmload.io/shard"

COMPONENT_LOADGEN = "loadgen"
COMPONENT_RUN_CONFIG = "run-config"
COMPONENT_RESULT = "result"


def run_selector(owner: Owner, run_id: int) -> dict[str, str]:
    """Labels that select every object of one run (for list calls and indexes)."""
    return {LOADTEST_UID_LABEL: owner.uid, RUN_ID_LABEL: str(run_id)}


def run_labels(owner: Owner, run_id: int, component: str, shard_index: int | None = None) -> dict[str, str]:
    """Labels of an object of one run; shard objects also carry their shard index."""
    labels = {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": label_value(owner.name),
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/component": component,
        LOADTEST_LABEL: label_value(owner.name),
        **run_selector(owner, run_id),
    }
    if shard_index is not None:
        labels[SHARD_LABEL] = str(shard_index)
    return labels
