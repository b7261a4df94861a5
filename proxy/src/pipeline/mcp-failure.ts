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

/** Failures of a started SSE response that get a JSON-RPC answer event (nothing more will come). */
const STREAM_ANSWERED: ReadonlySet<FailureKind> = new Set<FailureKind>(['upstream_idle', 'upstream_total_timeout', 'upstream_reset', 'upstream_closed', 'upstream_error'])

function failureText(parsed: Extract<McpParse, { ok: true }>, failure: Failure, decisionId: string): string {
  const names = parsed.messages.map((m) => m.call.toolName).filter((n): n is string => n !== null).map((n) => JSON.stringify(n.slice(0, 80)))
  const what = names.length > 0 ? `the MCP tool call ${names.join(', ')}` : 'the MCP request'
  const fate = mayHaveActed(failure.kind)
    ? 'it may have run on the server: check its effect before calling it again'
    : 'it did not reach the server'
  return `toolgate: ${what} failed: ${failure.reason} (${failure.kind}); ${fate} (decision ${decisionId})`
}

/**
 * The same answer for an SSE response that had started when the server went silent (or reset):
 * one `message` event per request id, after a blank line that ends any half-sent event, then
 * the stream ends normally. Ids the server had already answered get a second answer, which
 * JSON-RPC clients drop (they match each id once).
 */
export function mcpStreamFailureAnswer(parsed: Extract<McpParse, { ok: true }>, modern: boolean, decisionId: string): (res: ServerResponse, failure: Failure, contentType: string) => boolean {
  return (res, failure, contentType) => {
    if (!STREAM_ANSWERED.has(failure.kind) || !/^text\/event-stream\b/i.test(contentType) || res.writableEnded) return false
    const calls = parsed.messages.filter((m) => m.kind === 'request').map((m) => ({ id: m.call.id, method: m.call.method }))
    const reply = jsonRpcUpstreamFailure(calls, failureText(parsed, failure, decisionId), decisionId, true, modern)
    if (reply === null) return false
    const events = (JSON.parse(reply.body) as unknown[]).map((m) => `event: message\ndata: ${JSON.stringify(m)}\n\n`).join('')
    res.end(`\n\n${events}`)
    return true
  }
}

/** Builds the answerer for one parsed POST; it returns the status written, or null to leave the answer to the HTTP error writer. */
export function mcpFailureAnswer(parsed: Extract<McpParse, { ok: true }>, modern: boolean): McpFailureAnswer {
  return (res, failure, decisionId) => {
    if (res.headersSent || HTTP_ANSWER.has(failure.kind)) return null
    const calls = parsed.messages.filter((m) => m.kind === 'request').map((m) => ({ id: m.call.id, method: m.call.method }))
    const text = failureText(parsed, failure, decisionId)
    const reply = jsonRpcUpstreamFailure(calls, text, decisionId, parsed.batch, modern)
    if (reply === null) return null
    res.writeHead(reply.status, reply.headers)
    res.end(reply.body)
    return reply.status
  }
}
