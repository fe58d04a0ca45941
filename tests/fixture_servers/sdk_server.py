"""An SDK server for process tests: echo, its own pid, a crash, a call that hangs until cancelled, progress, and a
question to its caller."""

from __future__ import annotations

import os
import sys

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import SamplingMessage, TextContent, ToolAnnotations

# Every tool here only reads; the chat loop runs read-only tools without "destructive": "allow".
READ_ONLY = ToolAnnotations(read_only_hint=True)
mcp = MCPServer("proc")


@mcp.tool(annotations=READ_ONLY)
def echo(text: str) -> str:
    """Return the text."""
    return text


@mcp.tool(annotations=READ_ONLY)
def getenv(name: str) -> str:
    """The value of an environment variable of this process, or <unset>."""
    return os.environ.get(name, "<unset>")


@mcp.tool(annotations=READ_ONLY)
def pid() -> int:
    """This server's process id."""
    return os.getpid()


@mcp.tool(annotations=READ_ONLY)
def crash() -> str:
    """Exit the process in the middle of the call."""
    os._exit(9)


@mcp.tool(annotations=READ_ONLY)
async def hang(ctx: Context) -> str:
    """Wait until cancelled; says so on stderr."""
    print("HANG started", file=sys.stderr, flush=True)
    try:
        await anyio.sleep_forever()
    finally:
        print("HANG cancelled", file=sys.stderr, flush=True)
    return "never"


@mcp.tool(annotations=READ_ONLY)
async def nap(seconds: float) -> str:
    """Sleep, then answer; says when it starts on stderr."""
    print("NAP started", file=sys.stderr, flush=True)
    await anyio.sleep(seconds)
    return f"slept {seconds:g} s"


@mcp.tool(annotations=READ_ONLY)
async def progress(steps: int, ctx: Context) -> str:
    """Report `steps` progress notifications, then answer."""
    for step in range(1, steps + 1):
        await ctx.report_progress(step, steps, f"step {step}")
    return f"done after {steps} steps"


@mcp.tool(annotations=READ_ONLY)
async def summarize(text: str, ctx: Context) -> str:
    """Ask the caller's model for a summary (a question that, over stdio, names no request)."""
    message = SamplingMessage(role="user", content=TextContent(text=text))
    result = await ctx.session.create_message([message], max_tokens=20)  # pyright: ignore[reportDeprecated]  # 2025-era sampling
    said = result.content.text if isinstance(result.content, TextContent) else "?"
    return f"{result.model} said: {said}"


if __name__ == "__main__":
    mcp.run()
