"""What each finished object costs the operator in memory and CPU, without a cluster: kopf's own processing
of a start-up listing of N finished LoadTests (a real run's status, built by the unit harness) through the
operator's handlers, with a real SQLite store, measured with tracemalloc. Figures, not a test.

It drives kopf's internal `process_resource_event` (kopf 1.45) as kopf's watcher would, once per object,
with no API server: the handlers' status patches (none for an object at rest) would go nowhere. What is
retained per object afterwards is what grows with objects at rest; the largest part is named.

    .venv/bin/python -m benchmarks.rest_memory [--objects 300]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import tempfile
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import kopf
from kopf._cogs.clients import patching
from kopf._cogs.structs import ephemera, references
from kopf._cogs.structs.bodies import RawBody
from kopf._core.actions import lifecycles
from kopf._core.engines import indexing
from kopf._core.reactor import inventory, processing

from loadtest_operator.api import GROUP, KIND, PLURAL, VERSION
from loadtest_operator.handlers import loadtest as loadtest_handlers
from loadtest_operator.handlers.common import RESTING
from loadtest_operator.io.store import Store
from loadtest_operator.reconcile.context import Context
from loadtest_operator.reconcile.resting import Resting
from tests.unit.loadtest.test_plan import Harness
from tests.unit.loadtest.test_resting import finished

Row = tuple[str, str, str, str]


def finished_body(h: Harness) -> dict[str, Any]:
    """The harness's finished, stored LoadTest as the API server lists it, managedFields included."""
    body: dict[str, Any] = {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, **h.body}
    fields = {
        "manager": "llmload-operator", "operation": "Update", "apiVersion": f"{GROUP}/{VERSION}",
        "time": "2026-12-02T06:00:00Z", "fieldsType": "FieldsV1",
    }  # fmt: skip
    body["metadata"] = {
        **body["metadata"],
        "resourceVersion": "1",
        "creationTimestamp": "2026-12-02T06:00:00Z",
        "managedFields": [
            {**fields, "fieldsV1": {"f:spec": {f"f:{k}": {} for k in body["spec"]}}},
            {
                **fields,
                "fieldsV1": {"f:status": {f"f:{k}": {} for k in body["status"]}},
                "subresource": "status",
            },
        ],
    }
    return body


@dataclass(frozen=True)
class Measured:
    cpu_seconds: float
    wall_seconds: float
    at_rest: int
    bodies_kept: int  # objects whose last body kopf keeps
    retained_bytes: int  # allocated while processing and still alive after
    body_bytes: int  # of which: parsed JSON (the bodies)


async def _process(n: int, text: str, ctx: Context) -> Measured:
    async def no_patch(**_: Any) -> tuple[None, None]:
        return None, None

    patching.patch_obj = no_patch  # no API server: nothing is written (an object at rest writes nothing)
    registry = kopf.OperatorRegistry()
    loadtest_handlers.register(registry, 3.0)
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = "llmload.io/finalizer"
    settings.posting.enabled = False
    resource = references.Resource(GROUP, VERSION, PLURAL, kind=KIND, namespaced=True)
    memories = inventory.ResourceMemories()
    resting = Resting()
    memobase = ephemera.AnyMemo(kopf.Memo(ctx=ctx, **{RESTING: resting}))
    indexers, queue = indexing.OperatorIndexers(), asyncio.Queue[Any]()
    slots = asyncio.Semaphore(200)

    async def one(raw: dict[str, Any]) -> None:
        async with slots:
            await processing.process_resource_event(
                lifecycle=lifecycles.all_at_once, indexers=indexers, registry=registry, settings=settings,
                memories=memories, memobase=memobase, resource=resource,
                raw_event={"type": None, "object": cast(RawBody, raw)}, event_queue=queue, no_throttling=True,
            )  # fmt: skip

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    raws = []
    for i in range(n):  # parsed as kopf's watcher parses the listing
        raw = json.loads(text)
        raw["metadata"].update(uid=str(uuid.uuid4()), name=f"done-{i:05d}")
        raws.append(raw)
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one(raw) for raw in raws))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    del raws
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    kept = sum(m.daemons_memory.live_fresh_body is not None for m in memories._items.values())
    stats = after.compare_to(before, "filename")
    bodies = sum(s.size_diff for s in stats if s.traceback[0].filename.endswith("json/decoder.py"))
    total = sum(s.size_diff for s in stats)
    return Measured(cpu, wall, resting.count(KIND), kept, total, bodies)


def run(n: int) -> list[Row]:
    logging.basicConfig(level=logging.WARNING)
    h, _, _ = finished()
    text = json.dumps(finished_body(h))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'llmload.db'}")
        store.migrate()
        ctx = h.new_context()
        ctx.store = store
        try:
            m = asyncio.run(_process(n, text, ctx))
        finally:
            store.close()
    per_object, per_body = m.retained_bytes / n / 1024, m.body_bytes / n / 1024
    cpu, wall, at_rest, kept = m.cpu_seconds, m.wall_seconds, m.at_rest, m.bodies_kept
    return [
        (f"kopf + operator, {n} finished LoadTests listed at start-up (no cluster): CPU per object",
         f"{cpu / n * 1000:.1f} ms", "", f"(each check writes its run to SQLite; {wall:.0f} s wall, {at_rest} at rest)"),
        ("memory retained per object at rest (tracemalloc)", f"{per_object:.1f} KB", "",
         f"(of which {per_body:.1f} KB is the object's parsed body, {len(text) / 1024:.1f} KB as JSON, kept by kopf "
         f"for {kept}/{n} objects: 10,000 objects = {per_object * 10_000 / 1024:.0f} MB)"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--objects", type=int, default=300, help="finished LoadTests (default 300)")
    args = parser.parse_args()
    for row in run(args.objects):
        print("  " + "  ".join(row))


if __name__ == "__main__":
    main()
