// The MCP part of the pipeline, for tools with `mcp`. First the endpoint gate: every request a
// lenient router could send to the MCP handler is either inspected as MCP or refused
// (classify/mcp/endpoint.ts). A POST to the endpoint is buffered (bounded by
// limits.max_inspected_body_bytes), parsed once, checked against limits.max_batch_messages, and
// every JSON-RPC message in it is decided on its own within limits.mcp_evaluation_budget_ms
// (tools/call: the name rules, then the policy with name and arguments); the SAME bytes are
// forwarded only when every message passes, and the request gets ONE record listing each
// message's outcome. Denials are answered as JSON-RPC, so the agent sees a tool error it can
// reason about. tools/list results coming back are filtered by the name rules (list time: names
// only; every call is decided again).

import { readBounded } from '../classify/bounded-body.ts'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Transform } from 'node:stream'
import { parseMcpBody, type McpMessage, type McpParse } from '../classify/mcp/parse.ts'
import { mcpToolAccess, mcpToolAllowed, type CompiledMcpRules } from '../classify/mcp/rules.ts'
import { jsonRpcBatchDenial, jsonRpcDenial, jsonRpcRefusal, type JsonRpcReply } from '../classify/mcp/respond.ts'
import { createToolsListFilter, type ToolsListFilterOptions } from '../classify/mcp/filter.ts'
import { deniedToolAnnotator, type DryRunDecide } from './mcp-annotate.ts'
import { McpToolBook } from '../classify/mcp/pins.ts'
import { createdTaskId, McpTaskBinding, type CancelTarget } from '../classify/mcp/task-binding.ts'
import { cancelMcpTasks, type McpCancelDeps } from '../tasks/mcp-cancel.ts'
import type { TaskEndStep } from '../credential/lifecycle.ts'
import type { PipelineServices } from './services.ts'
import { checkMcpHeaders, HEADER_MISMATCH, readMcpHeaders } from '../classify/mcp/http-headers.ts'
import type { ToolCall } from '../classify/toolcall.ts'
import type { CompiledTool } from '../classify/allowlist.ts'
import { endpointMethod, endpointRelation, requestHasBody } from '../classify/mcp/endpoint.ts'
import { DENIED_CODE, jsonRpcError } from '../classify/mcp/respond.ts'
import { mcpFailureAnswer, mcpStreamFailureAnswer, type McpFailureAnswer } from './mcp-failure.ts'
import type { AllowlistVerdict } from '../decide/decide.ts'
import type { Decision } from '../decide/decision.ts'
import { batchDecision, deny } from '../decide/deny.ts'
import type { RouteMatch } from '../classify/allowlist.ts'
import type { ForwardInput, UpstreamRequest } from '../forward/forward.ts'
import type { Runtime } from '../listen/runtime.ts'
import type { Outcome } from './finish.ts'
import { allowlistVerdict } from './decide-stage.ts'
import type { CallTracing } from '../telemetry/traces.ts'
import type { RateLimitStage } from '../ratelimit/stage.ts'
import type { McpMessageOutcome, McpRecordFields } from '../record/decision-record.ts'
import type { RecordWriter } from '../record/record-types.ts'

export interface MessageDecision {
  call: ToolCall
  decision: Decision
}

export function parseMcpRequest(body: Buffer | null, contentType: string | undefined, max: number, maxMessages: number): McpParse {
  // An oversized body is refused by the parser's own size check (413), with one code path.
  return parseMcpBody(body ?? Buffer.alloc(max + 1), contentType, max, maxMessages)
}

/** The ToolCall of one message: the request's call with the JSON-RPC view and access class set. */
export function messageCall(base: ToolCall, message: McpMessage, rules: CompiledMcpRules): ToolCall {
  const isToolCall = message.call.method === 'tools/call' && message.call.toolName !== null
  return {
    ...base,
    mcp: message.call,
    // Listing, initialising and notifications read; tools/call has the access its rules give it.
    access: isToolCall ? mcpToolAccess(rules, message.call.toolName!) : 'read',
  }
}

/**
 * Allowlist verdict of one message: tools/call names must pass the tool's allow/deny globs, and a
 * tool whose definition changed since it was pinned is refused (pin.on_change: refuse).
 */
export function messageVerdict(message: McpMessage, rules: CompiledMcpRules, pinChanged: (toolName: string) => string[] | null = () => null, caseVariant: (toolName: string, args: unknown) => { key: string; property: string } | null = () => null, taskRefusal: (mcpTaskId: string) => string | null = () => null): AllowlistVerdict {
  // tasks/get|result|update|cancel name a task: only one created through toolgate under this toolgate task.
  if (message.taskId !== null) {
    const refused = taskRefusal(message.taskId)
    return refused === null ? { kind: 'allowed' } : { kind: 'denied', reason: refused }
  }
  if (message.call.method !== 'tools/call' || message.call.toolName === null) return { kind: 'allowed' }
  const verdict = mcpToolAllowed(rules, message.call.toolName)
  if (!verdict.allowed) return { kind: 'denied', reason: verdict.reason }
  const variant = caseVariant(message.call.toolName, message.call.arguments)
  if (variant !== null) {
    return { kind: 'denied', reason: `argument ${JSON.stringify(variant.key.slice(0, 64))} is a case variant of the tool's schema property ${JSON.stringify(variant.property.slice(0, 64))} (case-insensitive servers read it as that property; the policy would not)` }
  }
  const changed = rules.pin.onChange === 'off' ? null : pinChanged(message.call.toolName)
  if (changed !== null && rules.pin.onChange === 'refuse') {
    return { kind: 'denied', reason: `the definition of MCP tool ${JSON.stringify(message.call.toolName.slice(0, 80))} changed since it was pinned (${changed.join(', ')}): refused until its new digest is declared in mcp.pin.definitions` }
  }
  return { kind: 'allowed' }
}

/** The JSON-RPC answer when the POST cannot be forwarded, or null when every message passed. */
export function mcpDenial(parsed: Extract<McpParse, { ok: true }>, decisions: MessageDecision[], rules: CompiledMcpRules, modern = false): JsonRpcReply | null {
  const decisionId = decisions[0]!.call.id
  const refuseBatch = parsed.batch && rules.batches === 'refuse'
  if (!refuseBatch && decisions.every((d) => d.decision.pass)) return null
  const reasonOf = (d: MessageDecision): string => (d.decision.pass ? 'another message in this batch was denied' : d.decision.reasons.join('; '))
  if (!parsed.batch) {
    const d = decisions[0]!
    const denial = jsonRpcDenial(d.call.mcp?.id ?? null, reasonOf(d), decisionId, d.call.mcp?.method, modern, retryOf(d))
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
  }), decisionId, modern)
}

/** Retry time of a message a rate limit refused (the call is not let through, even in report mode's would_deny). */
function retryOf(d: MessageDecision): number | undefined {
  return !d.decision.pass && d.decision.rateLimit ? d.decision.rateLimit.retryAfterS : undefined
}

export function refusalReply(parsed: Extract<McpParse, { ok: false }>, decisionId: string): JsonRpcReply {
  return jsonRpcRefusal(parsed, decisionId)
}

/** Methods whose results list tools: tools/list, and server/discover of 2026-07-28 when it carries tools. */
const LISTING_METHODS = new Set(['tools/list', 'server/discover'])

/** Ids of the listing requests in a POST (their results are filtered on the way back) and of task-augmented calls (their results may create an MCP task to bind). */
export function toolsListIds(parsed: Extract<McpParse, { ok: true }>): Set<string | number> {
  const ids = new Set<string | number>()
  for (const m of parsed.messages) if (m.kind === 'request' && (LISTING_METHODS.has(m.call.method) || m.taskRequested) && m.call.id !== null) ids.add(m.call.id)
  return ids
}

/** Binds the MCP tasks created in a response to the toolgate task of the request (and where a tasks/cancel for them goes). */
export function taskObserver(binding: McpTaskBinding, call: ToolCall, parsed: Extract<McpParse, { ok: true }>, upstream?: UpstreamRequest, onBound?: () => void): (id: string | number, result: unknown) => void {
  const augmented = new Map(parsed.messages.filter((m) => m.taskRequested && m.call.id !== null).map((m) => [m.call.id!, m]))
  return (id, result) => {
    const message = augmented.get(id)
    if (message === undefined) return
    const created = createdTaskId(result)
    if (created === null) return
    binding.bind(call.tool ?? '', created, call.taskId, upstream ? cancelTarget(upstream, message.metaVersion) : null)
    onBound?.()
  }
}

/** Where a tasks/cancel for a task created by this forwarded request goes: same upstream, endpoint, session and version. */
export function cancelTarget(upstream: UpstreamRequest, metaVersion: string | null): CancelTarget {
  const header = (name: string): string | null => upstream.headers.find(([n]) => n.toLowerCase() === name)?.[1] ?? null
  return {
    origin: upstream.origin,
    path: upstream.path,
    host: header('host') ?? new URL(upstream.origin).host,
    sessionId: header('mcp-session-id'),
    protocolVersion: header('mcp-protocol-version'),
    metaVersion,
    mirroredHeaders: header('mcp-method') !== null,
  }
}

/** What the credential service offers for task-end work (credential/broker.ts). */
interface TaskEndHooks {
  beforeRevokingTask(step: TaskEndStep): void
  heldCredential: McpCancelDeps['heldCredential']
}

/** How a listing's tools are dry-run against the policy (pipeline/mcp-annotate.ts). */
export interface AnnotateWith {
  dryRun: DryRunDecide
  budgetMs: number
}

/** One annotator per listing (its bounds count per listing). */
function annotatorOf(call: ToolCall, rules: CompiledMcpRules, a: AnnotateWith | undefined): ToolsListFilterOptions['annotate'] {
  return a === undefined ? undefined : () => deniedToolAnnotator(call, rules, a.dryRun, a.budgetMs)
}

/** Pin bookkeeping for a list filter: the book, the toolgate tool, and where a change is reported. */
export interface PinContext {
  book: McpToolBook
  tool: string
  report: (observation: { name: string; digest: string; changed: string[]; action: 'learned' | 'hidden' | 'flagged' }) => void
}

/** Tool names recorded as hidden per request at most (a hostile server's list cannot grow the record without limit). */
const MAX_HIDDEN_RECORDED = 256

/** `hidden` collects the names the name rules removed, for the request's record (defect: they were never recorded). */
export function toolsListFilter(rules: CompiledMcpRules, requestIds: Set<string | number> | 'any', maxBytes: number, pins?: PinContext, observe?: (id: string | number, result: unknown) => void, hidden?: string[], annotate?: ToolsListFilterOptions['annotate']): (status: number, headers: Record<string, string | string[]>) => Transform | null {
  return (status, headers) => {
    if (status < 200 || status >= 300) return null
    if (requestIds !== 'any' && requestIds.size === 0) return null
    const contentType = String(headers['content-type'] ?? '')
    const encoding = headers['content-encoding']
    const contentEncoding = encoding === undefined ? undefined : String(encoding)
    const inspect = pins === undefined || rules.pin.onChange === 'off' ? undefined : (def: Record<string, unknown>): boolean => {
      const name = String(def['name'])
      const seen = pins.book.observe(pins.tool, def, rules.pin.declared.get(name))
      // A first sight is recorded too: its digest is what an operator declares in mcp.pin.definitions.
      if (seen.state === 'new') pins.report({ name, digest: seen.digest, changed: [], action: 'learned' })
      if (seen.state !== 'changed') return true
      const action = rules.pin.onChange === 'refuse' ? 'hidden' : 'flagged'
      pins.report({ name, digest: seen.digest, changed: seen.changed, action })
      return action === 'flagged'
    }
    const onFiltered = hidden === undefined ? undefined : (info: { removed: string[] }): void => {
      for (const name of info.removed) if (hidden.length < MAX_HIDDEN_RECORDED) hidden.push(name)
    }
    return createToolsListFilter({ contentType, ...(contentEncoding !== undefined ? { contentEncoding } : {}), allowed: (name) => mcpToolAllowed(rules, name).allowed, requestIds, maxBytes, ...(inspect ? { inspect } : {}), ...(observe ? { observe } : {}), ...(onFiltered ? { onFiltered } : {}), ...(annotate ? { annotate } : {}) })
  }
}

/**
 * The agent's own credentials never reach an MCP server (the MCP authorization spec forbids token
 * passthrough); nor does its Accept-Encoding, so a server answers with bytes the list filter can
 * read (an encoded listing is refused by the filter, classify/mcp/filter.ts).
 */
export function withoutAgentCredentials(headers: [string, string][]): [string, string][] {
  return headers.filter(([name]) => {
    const n = name.toLowerCase()
    return n !== 'authorization' && n !== 'cookie' && n !== 'accept-encoding'
  })
}

export type EndpointGate =
  | { kind: 'outside' }
  | { kind: 'refuse'; reply: JsonRpcReply; reason: string }
  | { kind: 'messages' }
  | { kind: 'stream' }

/**
 * Where a request to an MCP tool stands: outside the endpoint family (the tool's routes decide;
 * a tool without routes allows nothing but its endpoint), a POST of messages, a bodiless GET or
 * DELETE (decided as a read, its answer filtered), or refused.
 */
export function mcpEndpointGate(rules: CompiledMcpRules, tool: CompiledTool, call: ToolCall, req: IncomingMessage, upgrade: boolean): EndpointGate {
  const relation = endpointRelation(call.target.path, rules.path)
  if (relation === 'other') {
    if (tool.routes !== null) return { kind: 'outside' }
    const reason = `tool ${tool.name} is an MCP server without routes: only its endpoint ${rules.path} is allowed`
    return { kind: 'refuse', reason, reply: jsonRpcError(403, DENIED_CODE, reason, call.id) }
  }
  if (relation === 'variant') {
    const reason = `path ${JSON.stringify(call.target.path.slice(0, 200))} is a variant of the MCP endpoint ${rules.path} (case, trailing "/", ";" parameters or a sub-path): send MCP to the endpoint itself`
    return { kind: 'refuse', reason, reply: jsonRpcError(400, -32600, reason, call.id) }
  }
  const verdict = endpointMethod(req.method ?? '', requestHasBody(req.headers), upgrade)
  if (!verdict.ok) {
    const headers: Record<string, string> = verdict.status === 405 ? { allow: 'POST, GET, DELETE' } : {}
    return { kind: 'refuse', reason: verdict.reason, reply: jsonRpcError(verdict.status, -32600, verdict.reason, call.id, null, headers) }
  }
  return verdict.kind === 'messages' ? { kind: 'messages' } : { kind: 'stream' }
}

/** A batch larger than limits.max_batch_messages is refused before any message is decided. */
export function batchTooLarge(parsed: Extract<McpParse, { ok: true }>, max: number, decisionId: string): JsonRpcReply | null {
  if (parsed.messages.length <= max) return null
  return jsonRpcError(413, -32600, `${parsed.messages.length} messages in one request; at most ${max} (limits.max_batch_messages)`, decisionId)
}

/**
 * Decides every message within a time budget: once the budget is spent, the remaining messages
 * are not evaluated but denied (fail closed), so one request cannot hold the main thread for
 * thousands of policy evaluations.
 */
export function decideWithinBudget(messages: readonly McpMessage[], budgetMs: number, decideOne: (m: McpMessage, i: number) => MessageDecision, denyOne: (m: McpMessage, i: number, reason: string) => MessageDecision): MessageDecision[] {
  const started = process.hrtime.bigint()
  const budgetNs = BigInt(budgetMs) * 1_000_000n
  return messages.map((m, i) => {
    if (i > 0 && process.hrtime.bigint() - started > budgetNs) return denyOne(m, i, `not decided: the request used up its evaluation budget of ${budgetMs} ms (limits.mcp_evaluation_budget_ms)`)
    return decideOne(m, i)
  })
}

/** Fields of an MCP request's record: per-message outcomes of a batch, tools called despite a changed pin (on_change: flag). */
export function mcpRecordFields(parsed: Extract<McpParse, { ok: true }>, decisions: readonly MessageDecision[], rules: CompiledMcpRules, pinChanged: (name: string) => string[] | null): McpRecordFields | undefined {
  const out: McpRecordFields = {}
  if (parsed.batch) out.mcp_messages = messageOutcomes(decisions)
  if (rules.pin.onChange === 'flag') {
    const flagged = parsed.messages.flatMap((m) => {
      const changed = m.call.method === 'tools/call' && m.call.toolName !== null ? pinChanged(m.call.toolName) : null
      return changed === null ? [] : [{ tool: m.call.toolName, changed }]
    })
    if (flagged.length > 0) out.mcp_pin_changed = flagged
  }
  return Object.keys(out).length > 0 ? out : undefined
}

/** Reports a changed tool definition seen in a listing as its own record (the listing's request is still recorded as usual). */
export function pinReporter(book: McpToolBook, call: ToolCall, records: RecordWriter): PinContext {
  return {
    book,
    tool: call.tool ?? '',
    report: (o) => records.write({
      type: 'mcp_pin',
      time: new Date().toISOString(),
      decision_id: call.id,
      tool: call.tool,
      mcp_tool: o.name,
      digest: o.digest,
      changed: o.changed,
      action: o.action,
      reason: o.action === 'learned'
        ? `pinned the definition of ${JSON.stringify(o.name.slice(0, 80))} as first listed`
        : `the server changed the definition of ${JSON.stringify(o.name.slice(0, 80))} (${o.changed.join(', ')}) after it was pinned`,
    }),
  }
}

/** Per-message outcomes for the request's one record (names and decisions, never arguments). */
export function messageOutcomes(decisions: readonly MessageDecision[]): McpMessageOutcome[] {
  return decisions.map((d, index) => ({
    index,
    id: d.call.mcp?.id ?? null,
    method: d.call.mcp?.method ?? null,
    tool: d.call.mcp?.toolName ?? null,
    access: d.call.access,
    decision: d.decision.allow ? 'allow' : d.decision.pass ? 'would_deny' : 'deny',
    reasons: d.decision.reasons,
  }))
}

/**
 * The request's decision: the first denied message's, else the batch's (decide/deny.ts
 * batchDecision: allowed when every message is, asking for any approval a message asks for).
 */
export function requestDecision(decisions: readonly MessageDecision[]): MessageDecision {
  const denied = decisions.find((d) => !d.decision.pass)
  if (denied !== undefined) return denied
  const first = decisions[0]!
  return { call: first.call, decision: batchDecision(decisions.map((d) => d.decision)) }
}

/**
 * The MCP state a pipeline keeps across requests (pinned definitions, MCP task bindings) and the
 * per-request steps that use it, so the pipeline only calls in here.
 */
export class McpStage {
  readonly book = new McpToolBook()
  readonly tasks = new McpTaskBinding()
  private readonly records: RecordWriter
  private readonly taskAlive: (toolgateTask: string) => boolean
  private readonly cancelling: { runtime: () => Runtime; services: PipelineServices } | null
  /** The credential services the cancel step is registered with (once each). */
  private readonly hooked = new WeakSet<object>()

  constructor(records: RecordWriter, taskAlive: (toolgateTask: string) => boolean, cancelling?: { runtime: () => Runtime; services: PipelineServices }) {
    this.records = records
    this.taskAlive = taskAlive
    this.cancelling = cancelling ?? null
  }

  /**
   * Registers, once per credential service, the task-end step that cancels a toolgate task's MCP
   * tasks before its credentials are revoked (tasks/mcp-cancel.ts). Called when a task is first
   * bound: the services are complete by then (they are set after the pipeline is built).
   */
  private hookTaskEnd(): void {
    const services = this.cancelling?.services
    const hooks = services?.credentials as (Partial<TaskEndHooks> & object) | null | undefined
    if (!this.cancelling || !hooks || typeof hooks.beforeRevokingTask !== 'function' || typeof hooks.heldCredential !== 'function' || this.hooked.has(hooks)) return
    this.hooked.add(hooks)
    const deps: McpCancelDeps = { runtime: this.cancelling.runtime, heldCredential: hooks.heldCredential.bind(hooks), records: this.records }
    hooks.beforeRevokingTask((taskId) => {
      const bound = this.tasks.takeTask(taskId)
      return bound.length === 0 ? Promise.resolve() : cancelMcpTasks(taskId, bound, deps)
    })
  }

  /** Checks after parsing, before any message is decided: batch size, 2026-07-28 mirrored headers. */
  checkRequest(parsed: Extract<McpParse, { ok: true }>, rawHeaders: readonly string[], toolName: string, maxMessages: number, decisionId: string): { ok: true; modern: boolean } | { ok: false; reply: JsonRpcReply; reason: string } {
    const tooMany = batchTooLarge(parsed, maxMessages, decisionId)
    if (tooMany !== null) return { ok: false, reply: tooMany, reason: 'too many messages in one request' }
    const headers = checkMcpHeaders(readMcpHeaders(rawHeaders), parsed.messages, parsed.batch, (name) => this.book.headers(toolName, name))
    if (!headers.ok) return { ok: false, reply: jsonRpcError(400, HEADER_MISMATCH, headers.reason, decisionId, headers.id), reason: headers.reason }
    return { ok: true, modern: headers.modern }
  }

  /** Allowlist verdict of one message: name rules, pins, case-variant arguments, task binding. */
  verdict(message: McpMessage, rules: CompiledMcpRules, toolName: string, toolgateTask: string | null): AllowlistVerdict {
    return messageVerdict(message, rules,
      (name) => this.book.changed(toolName, name),
      (name, args) => this.book.caseVariantArgument(toolName, name, args),
      (id) => this.tasks.refusal(toolName, id, toolgateTask, this.taskAlive))
  }

  recordFields(parsed: Extract<McpParse, { ok: true }>, decisions: readonly MessageDecision[], rules: CompiledMcpRules, toolName: string): Record<string, unknown> | undefined {
    return mcpRecordFields(parsed, decisions, rules, (name) => this.book.changed(toolName, name))
  }

  /** The response filter of a POST: listings filtered and pinned, created MCP tasks bound (with where to cancel them); removed names go to `hidden`. */
  postFilter(rules: CompiledMcpRules, parsed: Extract<McpParse, { ok: true }>, call: ToolCall, maxBytes: number, hidden: string[], upstream?: UpstreamRequest, annotate?: AnnotateWith): ReturnType<typeof toolsListFilter> {
    return toolsListFilter(rules, toolsListIds(parsed), maxBytes, pinReporter(this.book, call, this.records), taskObserver(this.tasks, call, parsed, upstream, () => this.hookTaskEnd()), hidden, annotatorOf(call, rules, annotate))
  }

  /** The response filter of the GET stream: any listing in it is filtered and pinned; removed names go to `hidden`. */
  streamFilter(rules: CompiledMcpRules, call: ToolCall, maxBytes: number, hidden: string[], annotate?: AnnotateWith): ReturnType<typeof toolsListFilter> {
    return toolsListFilter(rules, 'any', maxBytes, pinReporter(this.book, call, this.records), undefined, hidden, annotatorOf(call, rules, annotate))
  }
}

type Recorded = Omit<Outcome, 'startedAt'>

export type McpStageResult =
  /** Refused (gate, allowlist, unparseable body, a denied message): answered; one record. */
  | { kind: 'answered'; outcome: Recorded }
  /** Every message passed: forward the same bytes under `decision`. */
  /** calls: calls of the task this request makes (its tools/call messages, at least 1). */
  | { kind: 'forward'; call: ToolCall; decision: Decision; upstream: UpstreamRequest; body: Buffer; responseTransform: ForwardInput['responseTransform']; hidden: string[]; calls: number; extra?: McpRecordFields; onFailure: McpFailureAnswer; onStreamFailure: ForwardInput['streamFailure'] }

/** A request to an MCP tool refused before (or instead of) deciding its messages: a JSON-RPC error and one record. */
export function refuseMcp(res: ServerResponse, base: Decision, call: ToolCall, reply: JsonRpcReply, reason: string): Recorded {
  res.writeHead(reply.status, reply.headers)
  res.end(reply.body)
  return { call, decision: deny(base, 'parse', [reason], { status: reply.status }), credential: null, status: reply.status, failure: null }
}

/**
 * Stage 4 for a POST of messages to an MCP endpoint: the allowlist first, then the body parsed
 * once and checked (batch size, mirrored headers), every JSON-RPC message decided on its own
 * (decide + route checks through `decide`) within the evaluation budget, the same bytes
 * forwarded only when all pass, else a JSON-RPC denial; one record per request.
 */
export async function mcpStage(p: {
  req: IncomingMessage
  res: ServerResponse
  rt: Runtime
  stage: McpStage
  call: ToolCall
  tool: CompiledTool
  routeMatch: RouteMatch | null
  upstream: UpstreamRequest
  mcp: CompiledMcpRules
  /** earlierCalls: tool calls of the same request decided before this one, counted by the policy as calls so far. */
  decide: (call: ToolCall, verdict?: AllowlistVerdict, earlierCalls?: number, dryRun?: boolean) => Decision
  tracing?: CallTracing
  rateLimits?: RateLimitStage
}): Promise<McpStageResult> {
  const { req, res, call, mcp, tool } = p
  const verdict = allowlistVerdict(tool, p.routeMatch)
  if (verdict.kind !== 'allowed') {
    const decision = p.decide(call, verdict)
    return { kind: 'answered', outcome: { call, decision, credential: null, status: decision.status, failure: null } }
  }
  const max = p.rt.config.limits.max_inspected_body_bytes
  const body = await readBounded(req as AsyncIterable<Buffer>, max)
  const parsed = parseMcpRequest(body, req.headers['content-type'], max, p.rt.config.limits.max_batch_messages)
  const refuse = (reply: JsonRpcReply, reason: string): McpStageResult => ({ kind: 'answered', outcome: refuseMcp(res, p.decide(call, { kind: 'denied', reason }), call, reply, reason) })
  if (!parsed.ok) return refuse(refusalReply(parsed, call.id), parsed.reason)
  // Batch size and the 2026-07-28 mirrored headers (Mcp-Method / Mcp-Name / Mcp-Param-*).
  const checked = p.stage.checkRequest(parsed, req.rawHeaders, tool.name, p.rt.config.limits.max_batch_messages, call.id)
  if (!checked.ok) return refuse(checked.reply, checked.reason)
  p.tracing?.mcpRequest(req, parsed)
  // Each tools/call of a batch is a call of the task: decided with those before it counted.
  let toolCalls = 0
  const decideOne = (message: McpMessage, reasonIfDenied?: string): MessageDecision => {
    const mcall = messageCall(call, message, mcp)
    const v = reasonIfDenied !== undefined ? { kind: 'denied' as const, reason: reasonIfDenied } : p.stage.verdict(message, mcp, tool.name, call.taskId)
    const decision = p.decide(mcall, v, toolCalls)
    if (message.call.method === 'tools/call') toolCalls++
    p.tracing?.decided(req, mcall, decision)
    return { call: mcall, decision }
  }
  const decisions = decideWithinBudget(parsed.messages, p.rt.config.limits.mcp_evaluation_budget_ms, (m) => decideOne(m), (m, _i, reason) => decideOne(m, reason))
  // Global limits: one service round trip per message that passed so far.
  if (p.rateLimits) for (const d of decisions) d.decision = await p.rateLimits.applyGlobal(d.call, p.rt.agent, d.decision)
  // One record per request: the request's decision, with each message's outcome in it.
  const chosen = requestDecision(decisions)
  const extra = p.stage.recordFields(parsed, decisions, mcp, tool.name)
  const denial = mcpDenial(parsed, decisions, mcp, checked.modern)
  if (denial !== null) {
    res.writeHead(denial.status, denial.headers)
    res.end(denial.body)
    const failure = chosen.decision.pass ? { kind: 'batch_refused' as const, reason: 'not forwarded: batches are refused for this tool' } : null
    return { kind: 'answered', outcome: { call: chosen.call, decision: chosen.decision, credential: null, status: denial.status, failure, ...(extra ? { extra } : {}) } }
  }
  const hidden: string[] = []
  return {
    kind: 'forward',
    call: chosen.call,
    decision: chosen.decision,
    upstream: { ...p.upstream, headers: withoutAgentCredentials(p.upstream.headers) },
    body: body!,
    responseTransform: p.stage.postFilter(mcp, parsed, call, max, hidden, p.upstream, { dryRun: (c, v) => p.decide(c, v, 0, true), budgetMs: p.rt.config.limits.mcp_evaluation_budget_ms }),
    hidden,
    calls: Math.max(1, toolCalls),
    ...(extra ? { extra } : {}),
    onFailure: mcpFailureAnswer(parsed, checked.modern),
    onStreamFailure: mcpStreamFailureAnswer(parsed, checked.modern, call.id),
  }
}
