// An allowed MCP POST whose server failed before answering (a timeout above all: MCP tool calls
// can run for minutes) is answered in JSON-RPC, not with toolgate's HTTP error: MCP clients treat
// a non-2xx POST as a transport failure, and the model never learns what happened. The text
// says whether the call may have run on the server, so neither the model nor a retry repeats a
// write blindly. Failures toolgate decided itself (destination, size) keep their HTTP answer.

import type { ServerResponse } from 'node:http'
import type { McpParse } from '../classify/mcp/parse.ts'
import { jsonRpcUpstreamFailure } from '../classify/mcp/respond.ts'
import { mayHaveActed, type Failure, type FailureKind } from './failure.ts'

const HTTP_ANSWER: ReadonlySet<FailureKind> = new Set<FailureKind>(['destination', 'request_too_large', 'client_aborted', 'batch_refused'])

export type McpFailureAnswer = (res: ServerResponse, failure: Failure, decisionId: string) => number | null

/** Builds the answerer for one parsed POST; it returns the status written, or null to leave the answer to the HTTP error writer. */
export function mcpFailureAnswer(parsed: Extract<McpParse, { ok: true }>, modern: boolean): McpFailureAnswer {
  return (res, failure, decisionId) => {
    if (res.headersSent || HTTP_ANSWER.has(failure.kind)) return null
    const calls = parsed.messages.filter((m) => m.kind === 'request').map((m) => ({ id: m.call.id, method: m.call.method }))
    const names = parsed.messages.map((m) => m.call.toolName).filter((n): n is string => n !== null).map((n) => JSON.stringify(n.slice(0, 80)))
    const what = names.length > 0 ? `the MCP tool call ${names.join(', ')}` : 'the MCP request'
    const fate = mayHaveActed(failure.kind)
      ? 'it may have run on the server: check its effect before calling it again'
      : 'it did not reach the server'
    const text = `toolgate: ${what} failed: ${failure.reason} (${failure.kind}); ${fate} (decision ${decisionId})`
    const reply = jsonRpcUpstreamFailure(calls, text, decisionId, parsed.batch, modern)
    if (reply === null) return null
    res.writeHead(reply.status, reply.headers)
    res.end(reply.body)
    return reply.status
  }
}
