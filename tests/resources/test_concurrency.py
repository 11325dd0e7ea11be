"""Fifty concurrent writers: no lost update, no deadlock, on both databases."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from treadle.resources import ListQuery, ResourceService, Workflow, WorkflowExecution

WRITERS = 50


async def test_concurrent_creates_and_status_updates_lose_nothing(
    service: ResourceService, workflow: Workflow
) -> None:
    shared = service.create({"kind": "WorkflowExecution", "spec": {"workflow_id": workflow.metadata.id}})
    shared_id = shared.metadata.id or ""
    service.update_execution_status(shared_id, {"phase": "running"})
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=WRITERS)

    def writer(n: int) -> str:
        created = service.create(
            {
                "kind": "WorkflowExecution",
                "metadata": {"name": f"run {n}"},
                "spec": {"workflow_id": workflow.metadata.id},
            }
        )
        own = created.metadata.id or ""
        service.update_execution_status(own, {"phase": "running"})
        service.update_execution_status(
            shared_id, {"tasks": [{"name": f"t{n}", "path": f"/do/{n}/t{n}", "phase": "completed"}]}
        )
        service.update_execution_status(own, {"phase": "completed", "output": {"n": n}})
        return own

    try:
        own_ids = await asyncio.wait_for(
            asyncio.gather(*(loop.run_in_executor(pool, writer, n) for n in range(WRITERS))), timeout=90
        )
    finally:
        pool.shutdown(wait=True)

    final = service.get(WorkflowExecution, shared_id)
    assert sorted(t.path for t in final.status.tasks) == sorted(f"/do/{n}/t{n}" for n in range(WRITERS))
    assert final.metadata.version == 2 + WRITERS  # created, running, then one write per writer
    completed = service.list(WorkflowExecution, ListQuery(phase="completed", page_size=100))
    assert completed.total == WRITERS
    assert {e.metadata.id for e in completed.items} == set(own_ids)
    assert all(e.metadata.version == 3 for e in completed.items)
