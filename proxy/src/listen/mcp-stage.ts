// The MCP part of the pipeline, for tools with `mcp`: a POST to the MCP endpoint is buffered
// (bounded by limits.max_inspected_body_bytes), parsed once, and every JSON-RPC message in it is
// decided on its own (tools/call: the name rules, then the policy with name and arguments);
// the SAME bytes are forwarded only when every message passes. Denials are answered as
// JSON-RPC, so the agent sees a tool error it can reason about. tools/list results coming back
// are filtered by the name rules (list time: names only; every call is decided again).

import type { IncomingMessage } from 'node:http'
import type { Transform } from 'node:stream'
import { randomUUID } from 'node:crypto'
import { parseMcpBody, type McpMessage, type McpParse } from '../classify/mcp/parse.ts'
import { mcpToolAccess, mcpToolAllowed, type CompiledMcpRules } from '../classify/mcp/rules.ts'
import { jsonRpcBatchDenial, jsonRpcDenial, jsonRpcRefusal, type JsonRpcReply } from '../classify/mcp/respond.ts'
import { createToolsListFilter } from '../classify/mcp/filter.ts'
import type { ToolCall } from '../classify/toolcall.ts'
import type { AllowlistVerdict } from '../decide/decide.ts'
import type { Decision } from '../decide/decision.ts'

export interface MessageDecision {
  call: ToolCall
  decision: Decision
}

/** Reads a request body up to max bytes; null when it is larger (the rest is left unread). */
export async function readBoundedBody(req: IncomingMessage, max: number): Promise<Buffer | null> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > max) return null
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

export function parseMcpRequest(body: Buffer | null, contentType: string | undefined, max: number): McpParse {
  // An oversized body is refused by the parser's own size check (413), with one code path.
  return parseMcpBody(body ?? Buffer.alloc(max + 1), contentType, max)
}

/** The ToolCall of one message: the request's call with the JSON-RPC view and access class set. */
export function messageCall(base: ToolCall, message: McpMessage, index: number, rules: CompiledMcpRules): ToolCall {
  const isToolCall = message.call.method === 'tools/call' && message.call.toolName !== null
  return {
    ...base,
    id: index === 0 ? base.id : randomUUID(),
    mcp: message.call,
    // Listing, initialising and notifications read; tools/call has the access its rules give it.
    access: isToolCall ? mcpToolAccess(rules, message.call.toolName!) : 'read',
  }
}

/** Allowlist verdict of one message: tools/call names must pass the tool's allow/deny globs. */
export function messageVerdict(message: McpMessage, rules: CompiledMcpRules): AllowlistVerdict {
  if (message.call.method !== 'tools/call' || message.call.toolName === null) return { kind: 'allowed' }
  const verdict = mcpToolAllowed(rules, message.call.toolName)
  return verdict.allowed ? { kind: 'allowed' } : { kind: 'denied', reason: verdict.reason }
}

/** The JSON-RPC answer when the POST cannot be forwarded, or null when every message passed. */
export function mcpDenial(parsed: Extract<McpParse, { ok: true }>, decisions: MessageDecision[], rules: CompiledMcpRules): JsonRpcReply | null {
  const decisionId = decisions[0]!.call.id
  const refuseBatch = parsed.batch && rules.batches === 'refuse'
  if (!refuseBatch && decisions.every((d) => d.decision.pass)) return null
  const reasonOf = (d: MessageDecision): string => (d.decision.pass ? 'another message in this batch was denied' : d.decision.reasons.join('; '))
  if (!parsed.batch) {
    const d = decisions[0]!
    const denial = jsonRpcDenial(d.call.mcp?.id ?? null, reasonOf(d), decisionId, d.call.mcp?.method, retryOf(d))
    return d.decision.rateLimit ? { ...denial, headers: { ...d.decision.rateLimit.headers, ...denial.headers } } : denial
  }
  return jsonRpcBatchDenial(parsed.messages.map((m, i) => {
    const retry = refuseBatch ? undefined : retryOf(decisions[i]!)
    return {
      id: m.kind === 'request' ? m.call.id : null,
      method: m.call.method,
      message: refuseBatch ? 'batches are refused for this tool' : reasonOf(decisions[i]!),
      ...(retry !== undefined ? { retryAfterS: retry } : {}),
    }
  }), decisionId)
}

/** Retry time of a message a rate limit refused (the call is not let through, even in report mode's would_deny). */
function retryOf(d: MessageDecision): number | undefined {
  return !d.decision.pass && d.decision.rateLimit ? d.decision.rateLimit.retryAfterS : undefined
}

export function refusalReply(parsed: Extract<McpParse, { ok: false }>, decisionId: string): JsonRpcReply {
  return jsonRpcRefusal(parsed, decisionId)
}

/** Ids of the tools/list requests in a POST: their results are filtered on the way back. */
export function toolsListIds(parsed: Extract<McpParse, { ok: true }>): Set<string | number> {
  const ids = new Set<string | number>()
  for (const m of parsed.messages) if (m.kind === 'request' && m.call.method === 'tools/list' && m.call.id !== null) ids.add(m.call.id)
  return ids
}

export function toolsListFilter(rules: CompiledMcpRules, requestIds: Set<string | number> | 'any', maxBytes: number): (status: number, headers: Record<string, string | string[]>) => Transform | null {
  return (status, headers) => {
    if (status < 200 || status >= 300) return null
    if (requestIds !== 'any' && requestIds.size === 0) return null
    const contentType = String(headers['content-type'] ?? '')
    return createToolsListFilter({ contentType, allowed: (name) => mcpToolAllowed(rules, name).allowed, requestIds, maxBytes })
  }
}

/** The agent's own credentials never reach an MCP server (the MCP authorization spec forbids token passthrough). */
export function withoutAgentCredentials(headers: [string, string][]): [string, string][] {
  return headers.filter(([name]) => {
    const n = name.toLowerCase()
    return n !== 'authorization' && n !== 'cookie'
  })
}
