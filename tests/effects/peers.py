"""Real peers for the effects tests: ASGI apps served by uvicorn on 127.0.0.1, and helpers
to watch real processes come and go.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn


@contextmanager
def serve_asgi(app: Any, *, lifespan: str = "off", port: int = 0) -> Iterator[str]:
    """Serve `app` on 127.0.0.1 (a free port unless given) in a thread; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="effects-peer", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the peer server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def process_state(pid: int) -> str | None:
    """The kernel's state letter for `pid` (R, S, Z, ...), or None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may hold spaces: the state follows the last ")".
    return stat.rsplit(")", 1)[1].split()[0]


def is_gone(pid: int) -> bool:
    """Whether `pid` no longer runs (absent, or a zombie its new parent has yet to reap)."""
    return process_state(pid) in (None, "Z", "X")


async def wait_until_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_gone(pid):
            return True
        await asyncio.sleep(0.02)
    return is_gone(pid)


async def read_pids(path: Path, count: int, timeout: float = 5.0) -> list[int]:
    """The first `count` pids a process wrote to `path`, one per line, once they are there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().split()
            if len(lines) >= count:
                return [int(line) for line in lines[:count]]
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} did not get {count} pids in {timeout} s")


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
