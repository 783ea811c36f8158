from datetime import UTC, datetime, timedelta

import pytest

from loadtest_operator.results.query import (
    QueryError,
    RunRef,
    decode_continue,
    encode_continue,
    filters_digest,
    parse_run_ref,
    parse_time,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_times_and_ages() -> None:
    assert parse_time("7d", NOW, "since") == NOW - timedelta(days=7)
    assert parse_time("30m", NOW, "since") == NOW - timedelta(minutes=30)
    assert parse_time("2026-12-01T00:00:00Z", NOW, "since") == datetime(2026, 12, 1, tzinfo=UTC)
    assert parse_time("2026-12-01T02:00:00+02:00", NOW, "since") == datetime(2026, 12, 1, tzinfo=UTC)
    with pytest.raises(QueryError, match="no time zone: add Z"):
        parse_time("2026-12-01T00:00:00", NOW, "since")
    with pytest.raises(QueryError, match=r"until='yesterday': use an RFC 3339 time"):
        parse_time("yesterday", NOW, "until")


def test_run_refs() -> None:
    assert parse_run_ref("bench/sweep:2") == RunRef("bench", "sweep", 2)
    assert parse_run_ref("bench/sweep") == RunRef("bench", "sweep", None)
    assert parse_run_ref("sweep", "team-a") == RunRef("team-a", "sweep", None)
    assert str(RunRef("bench", "sweep", 2)) == "bench/sweep:2"
    with pytest.raises(QueryError, match="write NAMESPACE/NAME"):
        parse_run_ref("sweep")
    with pytest.raises(QueryError, match="runId, a number"):
        parse_run_ref("bench/sweep:x")
    with pytest.raises(QueryError, match="not a Kubernetes name"):
        parse_run_ref("Bench/sweep")
    # A LoadTest deleted and re-created under its name: the uid (or its start) picks one.
    assert parse_run_ref("bench/sweep:0@1f0c9a3b") == RunRef("bench", "sweep", 0, "1f0c9a3b")
    assert parse_run_ref("sweep@1f0c9a3b-77", "team-a") == RunRef("team-a", "sweep", None, "1f0c9a3b-77")
    assert str(RunRef("bench", "sweep", 0, "1f0c9a3b")) == "bench/sweep:0@1f0c9a3b"
    with pytest.raises(QueryError, match="the part after '@' \\(the uid\\)"):
        parse_run_ref("bench/sweep:0@XYZ")


def test_continue_tokens_are_bound_to_their_query() -> None:
    digest = filters_digest({"ns": "a", "limit": 10})
    token = encode_continue(20, digest)
    assert decode_continue(token, digest) == 20
    with pytest.raises(QueryError, match="other filters"):
        decode_continue(token, filters_digest({"ns": "b", "limit": 10}))
    with pytest.raises(QueryError, match="not a token"):
        decode_continue("!!!", digest)
