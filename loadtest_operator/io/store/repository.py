"""Writes and history queries. Writes are upserts keyed by (LoadTest uid, runId): a retry, or an operator
that restarts halfway through ingesting a run, never duplicates it."""

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Integer, String, Table, bindparam, delete, desc, func, insert, or_, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import defer
from sqlmodel import Session, SQLModel, col, select

from loadtest_operator.api import Phase
from loadtest_operator.io.store.models import LevelResultRow, Run, RunLabelRow
from loadtest_operator.io.store.types import UtcDateTime


def save_run(engine: Engine, run: Run, levels: Sequence[LevelResultRow] | None = None) -> None:
    """Insert or update `run`, atomically with its levels.

    `levels=None` leaves stored levels alone (a "run started" write); a sequence replaces them, so the
    stored levels are exactly the ones given, however often this is called. A run recorded as finished is
    never turned back into an unfinished one: a delayed "started" write after the final one is ignored.
    """
    for row in levels or ():
        if (row.loadtest_uid, row.run_id) != (run.loadtest_uid, run.run_id):
            raise ValueError(f"level {row.level} belongs to another run")
    with engine.begin() as connection:
        if upsert(connection, run, ("loadtest_uid", "run_id"), keep_finished=True):
            _replace_labels(connection, run)
        if levels is not None:
            kept = [row.level for row in levels]
            connection.execute(
                delete(LevelResultRow).where(
                    col(LevelResultRow.loadtest_uid) == run.loadtest_uid,
                    col(LevelResultRow.run_id) == run.run_id,
                    col(LevelResultRow.level).not_in(kept),
                )
            )
            for row in levels:
                upsert(connection, row, ("loadtest_uid", "run_id", "level"))


def upsert(
    connection: Connection,
    row: SQLModel,
    keys: tuple[str, ...],
    *,
    keep: tuple[str, ...] = (),
    keep_finished: bool = False,
) -> bool:
    """INSERT ... ON CONFLICT (keys) DO UPDATE every column but the keys and `keep` (columns that keep
    their first value). With `keep_finished`, a stored row with finished_at set is only updated by
    another finished row. Whether a row was written."""
    table = type(row).__table__  # type: ignore[attr-defined]
    values: dict[str, Any] = {c.name: getattr(row, c.name) for c in table.columns}
    statement = _upsert_statement(table, connection.dialect.name, keys, keep, keep_finished)
    return bool(connection.execute(statement, values).rowcount)


@functools.cache
def _upsert_statement(
    table: Table, dialect: str, keys: tuple[str, ...], keep: tuple[str, ...], keep_finished: bool
) -> postgresql.Insert | sqlite.Insert:
    """The upsert of `table`, built once (issue 20: building its `excluded` columns was ~40 % of a run
    write's CPU, and an operator's first start among 10,000 finished runs writes each)."""
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(table)
    elif dialect == "sqlite":
        statement = sqlite.insert(table)
    else:
        raise ValueError(f"upsert not implemented for {dialect}")
    updates = {c.name: c for c in statement.excluded if c.name not in (*keys, *keep)}
    condition = None
    if keep_finished:
        condition = table.c.finished_at.is_(None) | statement.excluded.finished_at.is_not(None)
    return statement.on_conflict_do_update(index_elements=list(keys), set_=updates, where=condition)


def _replace_labels(connection: Connection, run: Run) -> None:
    """run_labels of `run` exactly as its `labels` column says (what label selectors match)."""
    key = (col(RunLabelRow.loadtest_uid) == run.loadtest_uid, col(RunLabelRow.run_id) == run.run_id)
    connection.execute(delete(RunLabelRow).where(*key))
    rows = [
        {"loadtest_uid": run.loadtest_uid, "run_id": run.run_id, "key": k, "value": v}
        for k, v in sorted((run.labels or {}).items())
    ]
    if rows:
        connection.execute(insert(RunLabelRow), rows)


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Filters of the run history; every filter set must match. Newest first."""

    namespace: str | None = None
    name: str | None = None
    model: str | None = None
    target: str | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    # Only these namespaces (the ones a caller may read); None: every namespace.
    namespaces: frozenset[str] | None = None
    offset: int = 0
    # A metav1.LabelSelector (core/selectors.py parses kubectl's syntax into one); None: any labels.
    selector: Mapping[str, Any] | None = None
    # Keyset paging: only runs after this (started_at, loadtest_uid, run_id) in the list's order.
    after: tuple[datetime, str, int] | None = None


def _filtered(statement: Any, query: RunQuery) -> Any:
    if query.namespaces is not None:
        statement = statement.where(col(Run.namespace).in_(sorted(query.namespaces)))
    for column, value in (
        (Run.namespace, query.namespace),
        (Run.name, query.name),
        (Run.model, query.model),
        (Run.target, query.target),
        (Run.status, query.status),
    ):
        if value is not None:
            statement = statement.where(col(column) == value)
    if query.since is not None:
        statement = statement.where(col(Run.started_at) >= query.since)
    if query.until is not None:
        statement = statement.where(col(Run.started_at) < query.until)
    for condition in _label_conditions(query.selector or {}):
        statement = statement.where(condition)
    if query.after is not None:
        started, uid, run_id = query.after
        statement = statement.where(
            tuple_(col(Run.started_at), col(Run.loadtest_uid), col(Run.run_id))
            < tuple_(
                bindparam(None, started, type_=UtcDateTime),
                bindparam(None, uid, type_=String()),
                bindparam(None, run_id, type_=Integer()),
            )
        )
    return statement


# The list's order: newest first, then by key (every column descending, so a keyset page is one row-value
# comparison that ix_runs_started_at_key answers).
NEWEST_FIRST = (desc(col(Run.started_at)), desc(col(Run.loadtest_uid)), desc(col(Run.run_id)))


def _label_conditions(selector: Mapping[str, Any]) -> list[Any]:
    """One EXISTS / NOT EXISTS on run_labels per requirement, as the API server matches them: In needs
    the label with one of the values, NotIn and DoesNotExist also hold for a run without the label."""
    expressions = [
        {"key": k, "operator": "In", "values": [v]} for k, v in (selector.get("matchLabels") or {}).items()
    ] + list(selector.get("matchExpressions") or [])
    conditions = []
    for expr in expressions:
        key, operator, values = str(expr["key"]), expr["operator"], [str(v) for v in expr.get("values") or []]
        label = select(RunLabelRow.key).where(
            col(RunLabelRow.loadtest_uid) == col(Run.loadtest_uid),
            col(RunLabelRow.run_id) == col(Run.run_id),
            col(RunLabelRow.key) == key,
        )
        if operator in ("In", "NotIn"):
            label = label.where(col(RunLabelRow.value).in_(values))
        elif operator not in ("Exists", "DoesNotExist"):
            raise ValueError(f"label selector operator {operator!r}")
        found = label.exists()
        conditions.append(found if operator in ("In", "Exists") else ~found)
    return conditions


def list_runs(engine: Engine, query: RunQuery | None = None, *, without_spec: bool = False) -> list[Run]:
    """Runs matching `query`, newest (by started_at) first. `without_spec`: spec and fingerprint are not
    read (a list shows neither; they are most of a row's bytes), and are None on the runs returned."""
    query = query or RunQuery()
    statement = _filtered(select(Run), query).order_by(*NEWEST_FIRST).offset(query.offset).limit(query.limit)
    if without_spec:
        heavy = (Run.spec, Run.fingerprint)
        statement = statement.options(*(defer(c, raiseload=True) for c in heavy))  # type: ignore[arg-type]
    with Session(engine) as session:
        return list(session.exec(statement).all())


# What a leaderboard reads of a run: who it is and its summary (the target's GPUs); never the spec.
_RANKED_RUN = ("loadtest_uid", "run_id", "namespace", "name", "model", "target", "started_at", "summary")


def best_values(
    engine: Engine, query: RunQuery, column: str, *, higher_is_better: bool, level: int | None = None
) -> list[Any]:
    """The newest `query.limit` runs matching `query`, each with the level where level_results.`column`
    is best (highest or lowest; a tie goes to the higher level), or only at `level`: rows with
    _RANKED_RUN's columns (without the summary) and `level`, `value` (None when the run has none). One
    query, the choice made by a window function in the database: a leaderboard of one stored figure."""
    table = Run.__table__  # type: ignore[attr-defined]
    levels = LevelResultRow.__table__  # type: ignore[attr-defined]
    newest = (
        _filtered(sa.select(*(table.c[c] for c in _RANKED_RUN if c != "summary")), query)
        .order_by(*NEWEST_FIRST)
        .limit(query.limit)
        .subquery()
    )
    value = levels.c[column]
    same_run = (levels.c.loadtest_uid == newest.c.loadtest_uid) & (levels.c.run_id == newest.c.run_id)
    pick = func.row_number().over(
        partition_by=(levels.c.loadtest_uid, levels.c.run_id),
        order_by=(value.desc() if higher_is_better else value.asc(), levels.c.level.desc()),
    )
    candidates = (
        sa.select(
            levels.c.loadtest_uid, levels.c.run_id, levels.c.level, value.label("value"), pick.label("pick")
        )
        .join(newest, same_run)
        .where(value.is_not(None))
    )
    if level is not None:
        candidates = candidates.where(levels.c.level == level)
    best = candidates.subquery()
    statement = (
        sa.select(newest, best.c.level, best.c.value)
        .outerjoin(
            best,
            (best.c.loadtest_uid == newest.c.loadtest_uid)
            & (best.c.run_id == newest.c.run_id)
            & (best.c.pick == 1),
        )
        .order_by(*(desc(newest.c[k]) for k in ("started_at", "loadtest_uid", "run_id")))
    )
    with engine.connect() as connection:
        return list(connection.execute(statement).all())


def ranking_rows(
    engine: Engine, query: RunQuery, columns: Collection[str], *, level: int | None = None
) -> tuple[list[Any], dict[tuple[str, int], list[Any]]]:
    """The newest `query.limit` runs matching `query` (rows with _RANKED_RUN's columns) and their levels
    (mappings of the level_results `columns` asked for; only `level` when given): what a leaderboard
    ranks, in two queries and without building a model per row."""
    table = Run.__table__  # type: ignore[attr-defined]
    newest = (
        _filtered(select(*(table.c[c] for c in _RANKED_RUN)), query)
        .order_by(*NEWEST_FIRST)
        .limit(query.limit)
        .subquery()
    )
    levels_table = LevelResultRow.__table__  # type: ignore[attr-defined]
    wanted = {"loadtest_uid", "run_id", "level", *columns}
    levels = select(*(c for c in levels_table.columns if c.name in wanted)).join(
        newest,
        (levels_table.c.loadtest_uid == newest.c.loadtest_uid) & (levels_table.c.run_id == newest.c.run_id),
    )
    if level is not None:
        levels = levels.where(levels_table.c.level == level)
    with engine.connect() as connection:
        runs = list(
            connection.execute(
                select(newest).order_by(
                    *(desc(newest.c[k]) for k in ("started_at", "loadtest_uid", "run_id"))
                )
            ).all()
        )
        found: dict[tuple[str, int], list[Any]] = {(r.loadtest_uid, r.run_id): [] for r in runs}
        for row in connection.execute(levels.order_by(levels_table.c.level)).mappings():
            found.setdefault((row["loadtest_uid"], row["run_id"]), []).append(row)
    return runs, found


def run_namespaces(engine: Engine, query: RunQuery, limit: int) -> list[str]:
    """The distinct namespaces of the runs matching `query` (its namespaces and paging ignored), at most
    `limit` of them: what a caller's rights must be checked in."""
    unfiltered = RunQuery(**{**_fields(query), "namespaces": None})
    if unfiltered == RunQuery(limit=unfiltered.limit, offset=unfiltered.offset, after=unfiltered.after):
        # Every namespace: a skip scan over ix_runs_namespace_name_started_at, one probe per namespace
        # (DISTINCT would read every row's entry).
        with engine.connect() as connection:
            return [str(ns) for ns in connection.execute(_EVERY_NAMESPACE, {"limit": limit}).scalars()]
    statement = _filtered(select(Run.namespace).distinct(), unfiltered)
    statement = statement.order_by(col(Run.namespace)).limit(limit)
    with engine.connect() as connection:
        return [str(ns) for ns in connection.execute(statement).scalars().all()]


_EVERY_NAMESPACE = text(
    """
    WITH RECURSIVE found(namespace) AS (
        SELECT min(namespace) FROM runs
        UNION ALL
        SELECT (SELECT min(namespace) FROM runs WHERE runs.namespace > found.namespace)
        FROM found WHERE found.namespace IS NOT NULL
    )
    SELECT namespace FROM found WHERE namespace IS NOT NULL LIMIT :limit
    """
)


def namespaces_to_check(engine: Engine, query: RunQuery, limit: int) -> list[str]:
    """Namespaces a caller's rights are checked in for `query`: every namespace holding runs when there are
    fewer than `limit` (one skip scan, however many runs match: the rights decide, the filters then
    select), else those holding runs that match (run_namespaces), at most `limit`."""
    every = run_namespaces(engine, RunQuery(limit=query.limit), limit)
    return every if len(every) < limit else run_namespaces(engine, query, limit)


def _fields(query: RunQuery) -> dict[str, Any]:
    return {name: getattr(query, name) for name in RunQuery.__dataclass_fields__}


class AmbiguousRunError(ValueError):
    """A uid prefix that picks more than one LoadTest of that name."""

    def __init__(self, uids: Sequence[str]) -> None:
        super().__init__(f"the uid prefix matches {len(uids)} LoadTests of that name: {', '.join(uids)}")
        self.uids = list(uids)


def find_run(
    engine: Engine, namespace: str, name: str, run_id: int | None = None, uid: str | None = None
) -> Run | None:
    """The newest run of LoadTest `namespace/name` (a re-created LoadTest has a new uid; `uid`, the uid
    or its start, picks one: AmbiguousRunError when that start fits several), or its run `run_id`."""
    where = [col(Run.namespace) == namespace, col(Run.name) == name]
    if run_id is not None:
        where.append(col(Run.run_id) == run_id)
    if uid is not None:
        where.append(col(Run.loadtest_uid).startswith(uid, autoescape=True))
    with Session(engine) as session:
        if uid is not None:
            uids = sorted(
                str(u) for u in session.exec(select(Run.loadtest_uid).where(*where).distinct().limit(3))
            )
            if len(uids) > 1:
                raise AmbiguousRunError(uids)
        statement = select(Run).where(*where).order_by(desc(col(Run.started_at)), desc(col(Run.run_id)))
        return session.exec(statement.limit(1)).first()


def shared_refs(engine: Engine, runs: Sequence[Run]) -> set[tuple[str, str, int]]:
    """Which (namespace, name, runId) of `runs` more than one LoadTest uid has stored: runs a name and
    runId alone do not pick (a LoadTest deleted and re-created under its name starts at runId 0 again)."""
    pairs = sorted({(r.namespace, r.name) for r in runs})
    if not pairs:
        return set()
    statement = (
        select(Run.namespace, Run.name, Run.run_id)
        .where(tuple_(col(Run.namespace), col(Run.name)).in_(pairs))
        .group_by(col(Run.namespace), col(Run.name), col(Run.run_id))
        .having(func.count(col(Run.loadtest_uid).distinct()) > 1)
    )
    with engine.connect() as connection:
        return {(str(ns), str(n), int(rid)) for ns, n, rid in connection.execute(statement).all()}


def levels_of_runs(
    engine: Engine, keys: Sequence[tuple[str, int]]
) -> dict[tuple[str, int], list[LevelResultRow]]:
    """The levels of several runs at once, ascending per run (every key present, [] for none)."""
    found: dict[tuple[str, int], list[LevelResultRow]] = {key: [] for key in keys}
    if not keys:
        return found
    pairs = [
        (col(LevelResultRow.loadtest_uid) == uid) & (col(LevelResultRow.run_id) == rid) for uid, rid in keys
    ]
    statement = select(LevelResultRow).where(or_(*pairs)).order_by(col(LevelResultRow.level))
    with Session(engine) as session:
        for row in session.exec(statement).all():
            found[(row.loadtest_uid, row.run_id)].append(row)
    return found


def delete_run(engine: Engine, uid: str, run_id: int) -> bool:
    """Delete one run and its levels (ON DELETE CASCADE, and explicitly for a connection without foreign
    keys). True when it was there."""
    with engine.begin() as connection:
        connection.execute(
            delete(LevelResultRow).where(
                col(LevelResultRow.loadtest_uid) == uid, col(LevelResultRow.run_id) == run_id
            )
        )
        connection.execute(
            delete(RunLabelRow).where(col(RunLabelRow.loadtest_uid) == uid, col(RunLabelRow.run_id) == run_id)
        )
        result = connection.execute(
            delete(Run).where(col(Run.loadtest_uid) == uid, col(Run.run_id) == run_id)
        )
        return bool(result.rowcount)


def delete_runs_before(engine: Engine, before: datetime, namespaces: frozenset[str] | None) -> int:
    """Delete the runs started before `before` in `namespaces` (None: all), with their levels; how many."""
    keys = select(Run.loadtest_uid, Run.run_id).where(col(Run.started_at) < before)
    if namespaces is not None:
        keys = keys.where(col(Run.namespace).in_(sorted(namespaces)))
    with engine.begin() as connection:
        found = [(str(uid), int(rid)) for uid, rid in connection.execute(keys).all()]
        for start in range(0, len(found), 200):
            chunk = found[start : start + 200]
            runs = or_(*((col(Run.loadtest_uid) == u) & (col(Run.run_id) == r) for u, r in chunk))
            levels = or_(
                *(
                    (col(LevelResultRow.loadtest_uid) == u) & (col(LevelResultRow.run_id) == r)
                    for u, r in chunk
                )
            )
            labels = or_(
                *((col(RunLabelRow.loadtest_uid) == u) & (col(RunLabelRow.run_id) == r) for u, r in chunk)
            )
            connection.execute(delete(LevelResultRow).where(levels))
            connection.execute(delete(RunLabelRow).where(labels))
            connection.execute(delete(Run).where(runs))
        return len(found)


# The phases of a run's last write: it succeeded, failed, or was refused before it started.
FINAL_STATUSES = frozenset({Phase.SUCCEEDED.value, Phase.FAILED.value, Phase.REJECTED.value})


def run_is_final(engine: Engine, uid: str, run_id: int) -> bool:
    """Whether the store holds run `run_id` of LoadTest `uid` as ended (its final write, levels and all,
    landed): one read by primary key."""
    statement = select(Run.status).where(col(Run.loadtest_uid) == uid, col(Run.run_id) == run_id)
    with engine.connect() as connection:
        return connection.execute(statement).scalar_one_or_none() in FINAL_STATUSES


def get_run(engine: Engine, uid: str, run_id: int) -> Run | None:
    with Session(engine) as session:
        return session.get(Run, (uid, run_id))


def list_level_results(engine: Engine, uid: str, run_id: int) -> list[LevelResultRow]:
    """A run's levels in ascending order."""
    statement = (
        select(LevelResultRow)
        .where(col(LevelResultRow.loadtest_uid) == uid, col(LevelResultRow.run_id) == run_id)
        .order_by(col(LevelResultRow.level))
    )
    with Session(engine) as session:
        return list(session.exec(statement).all())


def level_history(
    engine: Engine, *, level: int, model: str | None = None, target: str | None = None, limit: int = 100
) -> list[tuple[Run, LevelResultRow]]:
    """How one load level performed across finished runs, newest first (for trend graphs)."""
    statement = (
        select(Run, LevelResultRow)
        .join(
            LevelResultRow,
            (col(LevelResultRow.loadtest_uid) == col(Run.loadtest_uid))
            & (col(LevelResultRow.run_id) == col(Run.run_id)),
        )
        .where(col(LevelResultRow.level) == level, col(Run.finished_at).is_not(None))
    )
    if model is not None:
        statement = statement.where(col(Run.model) == model)
    if target is not None:
        statement = statement.where(col(Run.target) == target)
    statement = statement.order_by(desc(col(Run.started_at))).limit(limit)
    with Session(engine) as session:
        return [(run, row) for run, row in session.exec(statement).all()]
