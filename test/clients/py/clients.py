"""Python clients of the client matrix (test/clients/matrix.test.ts), written the way agent code
calls them: no proxy or CA argument anywhere; whatever they do comes from the environment alone.

Usage: python3 clients.py CLIENT ALLOWED_URL DENIED_URL
Prints one JSON line per call: {"call": "allowed"|"denied", "shown": <what the user sees>}.
"shown" is the status and body a program would print, or the text of the exception it raises.
"""

import asyncio
import json
import sys


def out(call: str, shown: str) -> None:
    print(json.dumps({"call": call, "shown": shown}), flush=True)


def error_text(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}"


def run_requests(urls):
    import requests

    for call, url in urls:
        try:
            r = requests.get(url, timeout=20)
            out(call, f"{r.status_code} {r.reason}\n{r.text}")
        except Exception as err:
            out(call, error_text(err))


def run_httpx(urls):
    import httpx

    for call, url in urls:
        try:
            r = httpx.get(url, timeout=20)
            out(call, f"{r.status_code} {r.reason_phrase}\n{r.text}")
        except Exception as err:
            out(call, error_text(err))


async def run_httpx_async(urls):
    import httpx

    async with httpx.AsyncClient(timeout=20) as client:
        for call, url in urls:
            try:
                r = await client.get(url)
                out(call, f"{r.status_code} {r.reason_phrase}\n{r.text}")
            except Exception as err:
                out(call, error_text(err))


async def run_aiohttp(urls, trust_env: bool):
    import aiohttp

    # aiohttp's default is trust_env=False: proxy variables are ignored unless the code opts in.
    async with aiohttp.ClientSession(trust_env=trust_env, timeout=aiohttp.ClientTimeout(total=20)) as session:
        for call, url in urls:
            try:
                async with session.get(url) as r:
                    out(call, f"{r.status} {r.reason}\n{await r.text()}")
            except Exception as err:
                out(call, error_text(err))


def run_openai(urls):
    import openai

    # base_url is the tool's own URL (as for any OpenAI-compatible endpoint); the key is a
    # placeholder: toolgate replaces the Authorization header with the real credential.
    allowed = urls[0][1]
    client = openai.OpenAI(base_url=allowed.rsplit("/models", 1)[0], api_key="sk-agent-placeholder", max_retries=0, timeout=20)
    try:
        models = client.models.list()
        out("allowed", "models: " + ",".join(m.id for m in models.data))
    except Exception as err:
        out("allowed", error_text(err))
    try:
        client.models.retrieve(urls[1][1].rsplit("/", 1)[1])
        out("denied", "no error")
    except Exception as err:
        out("denied", error_text(err))


async def run_mcp(urls):
    from mcp import Client

    async with Client(urls[0][1]) as client:
        for call, tool in (("allowed", "echo"), ("denied", "delete_repo")):
            try:
                args = {"text": "hello from python"} if tool == "echo" else {"repo": "acme/app"}
                result = await client.call_tool(tool, args)
                text = " ".join(getattr(c, "text", "") for c in result.content)
                out(call, f"is_error={bool(result.is_error)} {text}")
            except Exception as err:
                out(call, error_text(err))


def main() -> None:
    client, allowed, denied = sys.argv[1], sys.argv[2], sys.argv[3]
    urls = [("allowed", allowed), ("denied", denied)]
    if client == "requests":
        run_requests(urls)
    elif client == "httpx":
        run_httpx(urls)
    elif client == "httpx-async":
        asyncio.run(run_httpx_async(urls))
    elif client == "aiohttp":
        asyncio.run(run_aiohttp(urls, trust_env=False))
    elif client == "aiohttp-trust-env":
        asyncio.run(run_aiohttp(urls, trust_env=True))
    elif client == "openai":
        run_openai(urls)
    elif client == "mcp":
        asyncio.run(run_mcp(urls))
    else:
        raise SystemExit(f"unknown client {client}")


if __name__ == "__main__":
    main()
