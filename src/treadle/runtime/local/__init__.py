"""The durable local runtime: executions in the store, run by workers, journalled, resumable.

    from treadle.runtime.local import LocalRuntime, RuntimeSettings

    runtime = LocalRuntime(service, RuntimeSettings(max_running=200))
    await runtime.start()      # in a running event loop
    runtime.wake()             # new pending executions exist (polling finds them anyway)
    execution = await runtime.wait(execution_id)   # once it completed, faulted or was cancelled
    runtime.cancel(execution_id)
    await runtime.stop()

See docs/runtime.md for how runs are journalled, replayed, leased, unloaded and woken.
"""

from __future__ import annotations

from treadle.runtime.local.control import LocalRuntime
from treadle.runtime.local.settings import RuntimeSettings

__all__ = ["LocalRuntime", "RuntimeSettings"]
