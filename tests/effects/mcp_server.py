"""A small MCP server (the SDK's `MCPServer`, formerly FastMCP) the MCP tests talk to.

Run as a module it serves over stdio (`python -m tests.effects.mcp_server` or by path);
`app()` gives the same server as a streamable HTTP ASGI app.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

server = MCPServer("treadle-test")


class Sum(BaseModel):
    total: int
    terms: list[int]


@server.tool()
def add(a: int, b: int) -> Sum:
    """Add two numbers (a structured result)."""
    return Sum(total=a + b, terms=[a, b])


@server.tool()
def shout(text: str) -> str:
    """Upper-case the text (a plain text result)."""
    return text.upper()


@server.tool(structured_output=False)
def whisper(text: str) -> str:
    """Lower-case the text, as unstructured content only."""
    return text.lower()


@server.tool()
def environment(name: str) -> str:
    """The server process's environment variable `name`."""
    return os.environ.get(name, "")


@server.tool()
def explode(reason: str) -> str:
    """Always fails: the result has isError."""
    raise ToolError(f"exploded: {reason}")


@server.tool()
async def sleepy(seconds: float, pid_file: str = "") -> str:
    """Sleeps (writing the server's pid first), to test cancellation and timeouts."""
    if pid_file:
        with open(pid_file, "w") as file:
            file.write(str(os.getpid()))
    await asyncio.sleep(seconds)
    return "awake"


@server.prompt()
def greeting(name: str) -> str:
    """A greeting prompt."""
    return f"Please greet {name} warmly."


@server.resource("memo://readme", mime_type="text/plain")
def readme() -> str:
    """The readme."""
    return "treadle test server"


@server.resource("memo://users/{user_id}")
def user(user_id: str) -> dict[str, Any]:
    """A user by id."""
    return {"id": user_id}


def app() -> Any:
    return server.streamable_http_app()


if __name__ == "__main__":
    if os.environ.get("MCP_TEST_FAIL_AT_START"):
        print("refusing to start: MCP_TEST_FAIL_AT_START is set", file=sys.stderr)
        raise SystemExit(3)
    server.run("stdio")
