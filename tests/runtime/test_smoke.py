"""A first run end to end: pending → running → completed, with records."""

from __future__ import annotations

from tests.runtime.conftest import Counter, create_execution, create_workflow, document, running, wait_for
from treadle.resources import ResourceService
from treadle.store import Store


async def test_a_chain_of_calls_completes(service: ResourceService, store: Store, counter: Counter) -> None:
    doc = document(
        [
            {
                "one": {
                    "call": "http",
                    "with": {"method": "post", "endpoint": counter.url, "body": {"value": "${ .value }"}},
                }
            },
            {
                "two": {
                    "call": "http",
                    "with": {"method": "post", "endpoint": counter.url, "body": {"value": "${ .value }"}},
                }
            },
            {"three": {"set": {"result": "${ .value }"}}},
        ]
    )
    wid = create_workflow(service, doc)
    eid = create_execution(service, wid, {"value": 1})
    async with running(service) as runtime:
        runtime.wake()
        execution = await wait_for(service, eid)
    assert execution.status.phase == "completed", execution.status.error
    assert execution.status.output == {"result": 3}
    with store.begin(write=False) as tx:
        journal = tx.journal.read(eid)
        stages = tx.stages.list(eid)
    print([(e.type, e.data) for e in journal])
    assert [s.node for s in stages] == ["/do/0/one", "/do/1/two", "/do/2/three"]
    assert all(k.startswith(eid + "/") for k in counter.requests)
