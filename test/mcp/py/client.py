"""An MCP client on the official Python SDK (`mcp` on PyPI), for toolgate's tests.

Connects to URL (through toolgate's route prefix), lists tools, calls each tool named on the
command line with {"repo": "acme/app"}, and prints one JSON line per step for the test to read.

Usage: python3 client.py URL TOOL...
"""

import asyncio
import json
import sys

from mcp import Client
from mcp import types


def out(**fields) -> None:
    print(json.dumps(fields), flush=True)


async def answer_elicitation(context, params) -> types.ElicitResult:
    """The user says yes to whatever the server asks (an InputRequiredResult round trip on 2026-07-28)."""
    out(step="elicited", message=params.message)
    return types.ElicitResult(action="accept", content={"ok": True})


async def main(url: str, tools: list[str]) -> None:
    async with Client(url, elicitation_callback=answer_elicitation) as client:
        out(step="connected", protocol_version=client.protocol_version)
        listed = await client.list_tools()
        out(step="list", tools=sorted(t.name for t in listed.tools))
        for name in tools:
            try:
                result = await client.call_tool(name, {"repo": "acme/app"})
                text = " ".join(getattr(c, "text", "") for c in result.content)
                out(step="call", tool=name, is_error=bool(result.is_error), text=text)
            except Exception as err:  # a refusal surfaces as an exception in some paths
                out(step="call", tool=name, is_error=True, text=f"{type(err).__name__}: {err}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
