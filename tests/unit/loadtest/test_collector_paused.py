"""The garbage collector is off while any merge runs (overlapping merges, any thread) and back on after
the last one, also when a merge raises; a collector the process had disabled stays disabled."""

from __future__ import annotations

import gc
import threading

import pytest

from loadtest_operator.reconcile.collector import collector_paused
from loadtest_operator.reconcile.loadtest import merge_shard_results


def test_overlapping_merges_keep_the_collector_off_until_the_last_ends() -> None:
    assert gc.isenabled()
    inside, release = threading.Event(), threading.Event()
    seen: list[bool] = []

    def other_merge() -> None:
        with collector_paused():
            inside.set()
            release.wait(5)
            seen.append(gc.isenabled())

    thread = threading.Thread(target=other_merge)
    thread.start()
    inside.wait(5)
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other merge still runs
    release.set()
    thread.join(5)
    assert seen == [False]
    assert gc.isenabled()


def test_a_failing_merge_turns_it_back_on_and_a_disabled_collector_stays_off() -> None:
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_operators_merge_runs_with_it_off() -> None:
    merged = merge_shard_results({0: "not a result"})
    assert list(merged.unreadable) == [0]
    assert gc.isenabled()
