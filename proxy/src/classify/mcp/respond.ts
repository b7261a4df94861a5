// JSON-RPC answers toolgate gives in place of the MCP server.
//
// A denied tools/call is answered with a CallToolResult carrying isError: true (HTTP 200), not
// with a JSON-RPC error object. The MCP schema says tool errors "SHOULD be reported inside the
// result object, with isError set to true, not as an MCP protocol-level error response.
// Otherwise, the LLM would not be able to see that an error occurred and self-correct." Clients
// (the official SDKs, agent frameworks) hand such a result to the model as the tool's output,
// while a protocol error typically becomes an exception in the host. Any other denied method
// (resources/read, prompts/get, ...) gets a JSON-RPC error object with code -32001. Both are
// sent with HTTP 200 because Streamable HTTP clients treat a non-2xx POST as a transport failure
// and never read the JSON-RPC body. Refusals of malformed bodies use 400/413/415 with the
// standard JSON-RPC error codes. The decision id is in every answer so a human can find the record.

import type { McpParse } from './parse.ts'

export interface JsonRpcReply {
  status: number
  headers: Record<string, string>
  body: string
}

/** Implementation-defined server error (JSON-RPC reserves -32000..-32099): denied by toolgate. */
export const DENIED_CODE = -32001

/** Refused by a rate limit (ratelimit/): a JSON-RPC error whatever the method, data.retry_after_s says when to retry. */
export const RATE_LIMITED_CODE = -32029

const HEADERS = { 'content-type': 'application/json', 'cache-control': 'no-store' } as const

export interface DenialItem {
  id: string | number | null
  /** JSON-RPC method of the denied message; tools/call answers as a tool error. */
  method?: string
  message: string
  /** Set when a rate limit refused the message. */
  retryAfterS?: number
}

/**
 * The answer to one denied message. `method` decides the shape (tools/call: result with
 * isError; anything else: error object). A denied notification (id null) has no JSON-RPC
 * answer, so it gets HTTP 403 with a JSON-RPC error object that has id null.
 */
export function jsonRpcDenial(id: string | number | null, message: string, decisionId: string, method?: string, modern = false, retryAfterS?: number): JsonRpcReply {
  const item: DenialItem = { id, message, ...(method !== undefined ? { method } : {}), ...(retryAfterS !== undefined ? { retryAfterS } : {}) }
  return reply(id === null ? (retryAfterS !== undefined ? 429 : 403) : 200, denialMessage(item, decisionId, modern))
}

/**
 * The answer to a batch that cannot be forwarded (some element denied, or batches refused):
 * one entry per element that has an id, in order. Elements that were allowed get a denial that
 * says so, because the batch is forwarded whole or not at all (toolgate never rewrites what it
 * decided). When no element has an id there is nothing to answer: HTTP 403.
 */
export function jsonRpcBatchDenial(items: readonly DenialItem[], decisionId: string, modern = false): JsonRpcReply {
  const answers = items.filter((i) => i.id !== null).map((i) => denialMessage(i, decisionId, modern))
  if (answers.length === 0) return reply(403, { jsonrpc: '2.0', id: null, error: { code: DENIED_CODE, message: 'denied by toolgate', data: { decision_id: decisionId } } })
  return reply(200, answers)
}

/** The answer to a body parseMcpBody refused. */
export function jsonRpcRefusal(refusal: Extract<McpParse, { ok: false }>, decisionId: string): JsonRpcReply {
  return reply(refusal.status, {
    jsonrpc: '2.0',
    id: refusal.id,
    error: { code: refusal.code, message: `refused by toolgate: ${refusal.reason}`, data: { decision_id: decisionId } },
  })
}

/**
 * `modern`: the request spoke MCP 2026-07-28, whose results carry a `resultType` discriminator
 * ("complete" or "input_required"); clients of that revision refuse a result without one.
 */
function denialMessage(item: DenialItem, decisionId: string, modern = false): unknown {
  const text = `denied by toolgate: ${item.message} (decision ${decisionId})`
  if (item.retryAfterS !== undefined) {
    // A protocol error rather than a tool result: the client (not the model) should back off.
    return { jsonrpc: '2.0', id: item.id, error: { code: RATE_LIMITED_CODE, message: text, data: { decision_id: decisionId, retry_after_s: item.retryAfterS } } }
  }
  if (item.method === 'tools/call' && item.id !== null) {
    return {
      jsonrpc: '2.0',
      id: item.id,
      result: { content: [{ type: 'text', text }], isError: true, _meta: { 'toolgate/decision_id': decisionId }, ...(modern ? { resultType: 'complete' } : {}) },
    }
  }
  return { jsonrpc: '2.0', id: item.id, error: { code: DENIED_CODE, message: text, data: { decision_id: decisionId } } }
}

function reply(status: number, message: unknown): JsonRpcReply {
  const body = JSON.stringify(message)
  return { status, headers: { ...HEADERS, 'content-length': String(Buffer.byteLength(body)) }, body }
}

/**
 * A request toolgate refuses before any message in it is decided (an endpoint variant, a method
 * that carries no MCP messages, too many messages, headers that disagree with the body): one
 * JSON-RPC error with id null (or the message's id when there is one), the status the
 * situation calls for, and the decision id.
 */
export function jsonRpcError(status: number, code: number, reason: string, decisionId: string, id: string | number | null = null, headers: Record<string, string> = {}): JsonRpcReply {
  const r = reply(status, { jsonrpc: '2.0', id, error: { code, message: `refused by toolgate: ${reason}`, data: { decision_id: decisionId } } })
  return { ...r, headers: { ...r.headers, ...headers } }
}

/** The upstream failed an allowed request (timeout, reset, unreachable): a JSON-RPC error for methods other than tools/call. */
export const UPSTREAM_FAILED_CODE = -32003

/**
 * The answer to allowed messages whose MCP server failed before answering (pipeline/mcp-failure.ts):
 * a tools/call becomes a tool result with isError, so the model reads what happened (and that
 * the call may have run) instead of the host getting a transport error and the SDK retrying;
 * other requests get a JSON-RPC error. HTTP 200 like every MCP answer of toolgate's. Null when
 * no message has an id (notifications only: nothing to answer in JSON-RPC).
 */
export function jsonRpcUpstreamFailure(items: readonly { id: string | number | null; method: string }[], text: string, decisionId: string, batch: boolean, modern = false): JsonRpcReply | null {
  const answers = items.filter((i) => i.id !== null).map((i) => i.method === 'tools/call'
    ? { jsonrpc: '2.0', id: i.id, result: { content: [{ type: 'text', text }], isError: true, _meta: { 'toolgate/decision_id': decisionId }, ...(modern ? { resultType: 'complete' } : {}) } }
    : { jsonrpc: '2.0', id: i.id, error: { code: UPSTREAM_FAILED_CODE, message: text, data: { decision_id: decisionId } } })
  if (answers.length === 0) return null
  return reply(200, batch ? answers : answers[0])
}
