"""The interpreter: a deterministic coroutine that walks a built workflow
(`treadle.dsl.models.Workflow`) and performs every side effect through the `Effects` port.

What the engine must never touch, and what to call instead:

- the clock (`time`, `datetime.now()`): `effects.now(key)`;
- randomness (`random`, `uuid`): `effects.new_id(key)`, or a value derived from the
  effect key (retry jitter, `treadle.engine.retry.deterministic_fraction`);
- waiting (`asyncio.sleep`, `asyncio.wait_for`): `effects.sleep(seconds, key)`;
- the network, files, processes, threads, the database (`socket`, `httpx`, `os`,
  `subprocess`, `threading`, `sqlalchemy`): `effects.call(kind, args, key)`,
  `effects.emit`, `effects.wait_event`.

`asyncio` itself is allowed for structure (tasks, `wait`, `gather`, cancellation).
`tests/engine/test_purity.py` walks the AST of every module here and fails on those
imports and calls. What such a test cannot catch: anything reached indirectly — a
library the engine imports (pydantic, jsonschema, jq, `treadle.expr`) that reads the
clock or the environment; `getattr`/`importlib` tricks; iteration over sets or dicts
whose order depends on hashing of values from outside; asyncio scheduling order, which
is deterministic only as long as effects complete in the same order (a replaying
runtime must answer concurrent effects in journal order); and jq programs in the
document itself (jq has `now`, `input`, `$ENV`), which the engine evaluates as written.
Determinism is a property the whole runtime keeps, not one a test can prove.
"""

from __future__ import annotations

from treadle.engine.effects import Effects, EventFilter
from treadle.engine.errors import ErrorType, WorkflowError, error_type_matches
from treadle.engine.interpreter import RunResult, RunStatus, run_workflow
from treadle.engine.observer import Decision, NullObserver, Observer, Phase, TaskEvent

__all__ = [
    "Decision",
    "Effects",
    "ErrorType",
    "EventFilter",
    "NullObserver",
    "Observer",
    "Phase",
    "RunResult",
    "RunStatus",
    "TaskEvent",
    "WorkflowError",
    "error_type_matches",
    "run_workflow",
]
