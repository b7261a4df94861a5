// The MCP part of the pipeline, for tools with `mcp`: a POST to the MCP endpoint is buffered
// (bounded by limits.max_inspected_body_bytes), parsed once, and every JSON-RPC message in it is
// decided on its own (tools/call: the name rules, then the policy with name and arguments);
// the SAME bytes are forwarded only when every message passes. Denials are answered as
// JSON-RPC, so the agent sees a tool error it can reason about. tools/list results coming back
// are filtered by the name rules (list time: names only; every call is decided again).

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Transform } from 'node:stream'
import { randomUUID } from 'node:crypto'
import { parseMcpBody, type McpMessage, type McpParse } from '../classify/mcp/parse.ts'
import { mcpToolAccess, mcpToolAllowed, type CompiledMcpRules } from '../classify/mcp/rules.ts'
import { jsonRpcBatchDenial, jsonRpcDenial, jsonRpcRefusal, type JsonRpcReply } from '../classify/mcp/respond.ts'
import { createToolsListFilter } from '../classify/mcp/filter.ts'
import type { ToolCall } from '../classify/toolcall.ts'
import type { AllowlistVerdict } from '../decide/decide.ts'
import type { Decision } from '../decide/decision.ts'
import { batchDecision, deny } from '../decide/deny.ts'
import type { CompiledTool, RouteMatch } from '../classify/allowlist.ts'
import type { UpstreamRequest, ForwardInput } from '../forward/forward.ts'
import type { Runtime } from '../listen/runtime.ts'
import type { Outcome } from './finish.ts'
import { allowlistVerdict } from './decide-stage.ts'

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
    return jsonRpcDenial(d.call.mcp?.id ?? null, reasonOf(d), decisionId, d.call.mcp?.method)
  }
  return jsonRpcBatchDenial(parsed.messages.map((m, i) => ({
    id: m.kind === 'request' ? m.call.id : null,
    method: m.call.method,
    message: refuseBatch ? 'batches are refused for this tool' : reasonOf(decisions[i]!),
  })), decisionId)
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

/** The tools/list filter of an answer; the names it removes are added to `hidden` for the record. */
export function toolsListFilter(rules: CompiledMcpRules, requestIds: Set<string | number> | 'any', maxBytes: number, hidden: string[]): (status: number, headers: Record<string, string | string[]>) => Transform | null {
  return (status, headers) => {
    if (status < 200 || status >= 300) return null
    if (requestIds !== 'any' && requestIds.size === 0) return null
    const contentType = String(headers['content-type'] ?? '')
    return createToolsListFilter({
      contentType,
      allowed: (name) => mcpToolAllowed(rules, name).allowed,
      requestIds,
      maxBytes,
      // Bounded: a hostile server's list cannot grow the record without limit.
      onFiltered: (info) => { for (const name of info.removed) if (hidden.length < MAX_HIDDEN_RECORDED) hidden.push(name) },
    })
  }
}

const MAX_HIDDEN_RECORDED = 256

/** The MCP rules when the call goes to its tool's MCP endpoint, else null. */
export function mcpEndpointOf(rt: Runtime, tool: CompiledTool | null, call: ToolCall): CompiledMcpRules | null {
  const mcp = tool !== null ? rt.mcp.get(tool.name) ?? null : null
  return mcp !== null && call.target.path === mcp.path ? mcp : null
}

type Recorded = Omit<Outcome, 'startedAt'>

export type McpStageResult =
  /** Refused (allowlist, unparseable body, a denied message): answered; every message to record. */
  | { kind: 'answered'; outcomes: Recorded[] }
  /** Every message passed: forward the same bytes under `decision`; the other messages recorded now. */
  | { kind: 'forward'; call: ToolCall; decision: Decision; upstream: UpstreamRequest; body: Buffer; responseTransform: ForwardInput['responseTransform']; hidden: string[]; alsoRecorded: Recorded[] }

/**
 * Stage 4 for a POST to an MCP endpoint: every JSON-RPC message decided (decide + route checks,
 * through `decide`), the same bytes forwarded only when all pass, else a JSON-RPC denial.
 */
export async function mcpStage(p: {
  req: IncomingMessage
  res: ServerResponse
  rt: Runtime
  call: ToolCall
  tool: CompiledTool | null
  routeMatch: RouteMatch | null
  upstream: UpstreamRequest
  mcp: CompiledMcpRules
  decide: (call: ToolCall, verdict?: AllowlistVerdict) => Decision
}): Promise<McpStageResult> {
  const { req, res, call, mcp } = p
  // The allowlist (host, route, deny rules) still comes first, before any body is read.
  const verdict = allowlistVerdict(p.tool, p.routeMatch)
  if (verdict.kind !== 'allowed') {
    const decision = p.decide(call, verdict)
    return { kind: 'answered', outcomes: [{ call, decision, credential: null, status: decision.status, failure: null }] }
  }
  const max = p.rt.config.limits.max_inspected_body_bytes
  const body = await readBoundedBody(req, max)
  const parsed = parseMcpRequest(body, req.headers['content-type'], max)
  if (!parsed.ok) {
    const reply = refusalReply(parsed, call.id)
    res.writeHead(reply.status, reply.headers)
    res.end(reply.body)
    const decision = deny(p.decide(call, { kind: 'denied', reason: parsed.reason }), 'parse', [parsed.reason], { status: reply.status })
    return { kind: 'answered', outcomes: [{ call, decision, credential: null, status: reply.status, failure: null }] }
  }
  const decisions: MessageDecision[] = parsed.messages.map((message, i) => {
    const mcall = messageCall(call, message, i, mcp)
    return { call: mcall, decision: p.decide(mcall, messageVerdict(message, mcp)) }
  })
  const denial = mcpDenial(parsed, decisions, mcp)
  if (denial !== null) {
    res.writeHead(denial.status, denial.headers)
    res.end(denial.body)
    return {
      kind: 'answered',
      outcomes: decisions.map((d) => ({ call: d.call, decision: d.decision, credential: null, status: denial.status, failure: d.decision.pass ? { kind: 'batch_refused', reason: 'not forwarded: the batch it came in was denied' } : null })),
    }
  }
  const first = decisions[0]!
  const hidden: string[] = []
  return {
    kind: 'forward',
    call: first.call,
    decision: batchDecision(decisions.map((d) => d.decision)),
    upstream: { ...p.upstream, headers: withoutAgentCredentials(p.upstream.headers) },
    body: body!,
    responseTransform: toolsListFilter(mcp, toolsListIds(parsed), max, hidden),
    hidden,
    // Every message passed: the others are recorded now, as forwarded with the first.
    alsoRecorded: decisions.slice(1).map((d) => ({ call: d.call, decision: d.decision, credential: null, status: 0, failure: null, forwardedWith: call.id })),
  }
}

/** The agent's own credentials never reach an MCP server (the MCP authorization spec forbids token passthrough). */
export function withoutAgentCredentials(headers: [string, string][]): [string, string][] {
  return headers.filter(([name]) => {
    const n = name.toLowerCase()
    return n !== 'authorization' && n !== 'cookie'
  })
}
