"""A worker process for the fault test: the real worker entry point plus one function.

`fault.step` appends `<run> <n> <pid>` to the file named by TREADLE_FAULT_LOG, waits a
little (so a worker can be killed mid-call) and returns `{"x": x + 1}`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from treadle.effects import function
from treadle.runtime.temporal.__main__ import main


@function(name="fault.step")
async def step(x: int, run: str) -> dict[str, Any]:
    with open(os.environ["TREADLE_FAULT_LOG"], "a", encoding="utf-8") as log:
        log.write(f"{run} {x} {os.getpid()}\n")
    await asyncio.sleep(float(os.environ.get("TREADLE_FAULT_STEP_SECONDS", "0.3")))
    return {"x": x + 1}


if __name__ == "__main__":
    main(sys.argv[1:])
