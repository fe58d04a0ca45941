"""A clock and time-zone server: the current time anywhere, conversions between zones, waiting with progress."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from servers import Arguments, serve_until_closed

READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)

mcp = MCPServer("clock", instructions="Current time, time-zone conversion and time arithmetic.")


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris' or 'UTC'") from None


@mcp.tool(annotations=READ_ONLY)
def now(timezone: str = "UTC") -> dict[str, str]:
    """The current date and time in an IANA time zone (for example 'Asia/Tokyo')."""
    moment = datetime.now(_zone(timezone))
    return {
        "timezone": timezone,
        "datetime": moment.isoformat(timespec="seconds"),
        "weekday": moment.strftime("%A"),
        "utc_offset": moment.strftime("%z"),
    }


@mcp.tool(annotations=READ_ONLY)
def convert(time: str, from_timezone: str, to_timezone: str) -> dict[str, str]:
    """Convert a wall-clock time ('YYYY-MM-DD HH:MM' or 'HH:MM' for today) from one time zone to another."""
    source = _zone(from_timezone)
    try:
        if len(time) <= 5:
            clock = datetime.strptime(time, "%H:%M")
            today = datetime.now(source)
            moment = today.replace(hour=clock.hour, minute=clock.minute, second=0, microsecond=0)
        else:
            moment = datetime.fromisoformat(time).replace(tzinfo=source)
    except ValueError:
        raise ToolError(f"cannot read the time {time!r}; write 'YYYY-MM-DD HH:MM' or 'HH:MM'") from None
    converted = moment.astimezone(_zone(to_timezone))
    difference = (converted.utcoffset() or timedelta()) - (moment.utcoffset() or timedelta())
    return {
        "source": moment.isoformat(timespec="minutes"),
        "target": converted.isoformat(timespec="minutes"),
        "difference_hours": f"{difference.total_seconds() / 3600:+g}",
    }


@mcp.tool(annotations=READ_ONLY)
def list_timezones(contains: str = "") -> list[str]:
    """IANA time-zone names, optionally only those containing a piece of text (case-insensitive)."""
    needle = contains.lower()
    return sorted(zone for zone in available_timezones() if needle in zone.lower())


@mcp.tool(annotations=READ_ONLY)
async def wait(seconds: float, ctx: Context) -> str:
    """Wait for a number of seconds (at most 600), reporting progress every second."""
    if not 0 <= seconds <= 600:
        raise ToolError("seconds must be between 0 and 600")
    elapsed = 0.0
    while elapsed < seconds:
        step = min(1.0, seconds - elapsed)
        await anyio.sleep(step)
        elapsed += step
        await ctx.report_progress(elapsed, seconds, f"{elapsed:g} of {seconds:g} s")
    return f"waited {seconds:g} s"


def configure(argv: Sequence[str], *, inside: bool = False) -> MCPServer:
    """The server, set up from its command line (it takes no arguments)."""
    Arguments(prog="python -m servers.clock", description=__doc__, inside=inside).parse_args(argv)
    return mcp


if __name__ == "__main__":
    serve_until_closed(configure(sys.argv[1:]))
