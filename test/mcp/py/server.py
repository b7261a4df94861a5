"""An MCP server on the official Python SDK (`mcp` on PyPI), for toolgate's tests.

It speaks 2026-07-28 (stateless requests, Mcp-Method/Mcp-Name/Mcp-Param-* headers validated
against the body) as well as the handshake-era revisions. get_x's `repo` argument carries an
`x-mcp-header` annotation, so 2026-07-28 clients mirror it into an `Mcp-Param-Repo` header.
Prints "ran <tool> <arguments>" on stdout whenever a tool executes.

Usage: python3 server.py PORT
"""

import json
import sys
from typing import Annotated

from pydantic import Field

from mcp import types
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("py-fixture")


def report(name: str, args: dict) -> str:
    print(f"ran {name} {json.dumps(args, sort_keys=True)}", flush=True)
    return f"ran {name}"


@server.tool(description="reads x")
def get_x(repo: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Repo"})] = "") -> str:
    return report("get_x", {"repo": repo})


@server.tool(description="reads x after asking the user (2026-07-28: an InputRequiredResult round trip)")
async def get_confirmed(ctx: Context, repo: str = ""):
    responses = ctx.input_responses
    if not responses:
        # First round: ask the client for input; it retries the same tools/call with the answer.
        return types.InputRequiredResult(
            input_requests={
                "confirm": types.ElicitRequest(
                    params=types.ElicitRequestFormParams(
                        message=f"Read {repo}?",
                        requested_schema={"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]},
                    )
                )
            },
            request_state="round-1",
        )
    answer = responses.get("confirm")
    ok = getattr(answer, "action", None) == "accept" and bool((getattr(answer, "content", None) or {}).get("ok"))
    return report("get_confirmed", {"repo": repo, "confirmed": ok, "state": ctx.request_state})


@server.tool(description="deletes x")
def delete_x(repo: str = "") -> str:
    return report("delete_x", {"repo": repo})


if __name__ == "__main__":
    server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]), stateless_http=True, json_response=True)
