"""The run's record for the store carries the LoadTest's labels (what the results service's label
selectors match), on the "started" write and the final one."""

from loadtest_operator.core.plan import RunRecord
from tests.unit.loadtest.test_plan import Harness, run


def test_every_run_record_carries_the_loadtests_labels() -> None:
    h = Harness()
    h.body["metadata"]["labels"] = {"team": "a", "app.kubernetes.io/part-of": "nightly"}
    run(h)
    assert h.store is not None
    records = [w for w in h.store.writes if isinstance(w, RunRecord)]
    assert [r.levels is None for r in records] == [True, False]
    assert {r.labels for r in records} == {(("app.kubernetes.io/part-of", "nightly"), ("team", "a"))}


def test_a_loadtest_without_labels_has_none() -> None:
    h = Harness()
    run(h)
    assert h.store is not None
    assert {w.labels for w in h.store.writes if isinstance(w, RunRecord)} == {()}
