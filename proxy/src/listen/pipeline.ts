// The request pipeline: listen → classify → decide → credential → forward → record.
// One Runtime snapshot (config, compiled allowlist, upstream pools) is read at the start of each
// request and used for its whole life, so a hot reload never mixes two configs in one call.
// Stages talk through ToolCall, Decision and Credential values; the pipeline owns no state of
// its own besides the current snapshot reference.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { randomUUID } from 'node:crypto'
import type { Duplex, Readable } from 'node:stream'
import { classify, type Classified, type RawRequest } from '../classify/request.ts'
import type { CompiledTool, RouteMatch } from '../classify/allowlist.ts'
import type { Scheme, ToolCall, Via } from '../classify/toolcall.ts'
import { decide, type AllowlistVerdict, type PolicyEvaluator } from '../decide/decide.ts'
import type { Decision } from '../decide/decision.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import type { CredentialRecord } from '../credential/credential.ts'
import { forward, writeJsonError, type ForwardInput, type ForwardResult, type UpstreamRequest } from '../forward/forward.ts'
import type { CompiledMcpRules } from '../classify/mcp/rules.ts'
import { decideWithinBudget, mcpDenial, mcpEndpointGate, McpStage, messageCall, parseMcpRequest, readBoundedBody, refusalReply, requestDecision, withoutAgentCredentials, type MessageDecision } from './mcp-stage.ts'
import type { JsonRpcReply } from '../classify/mcp/respond.ts'
import type { McpMessage } from '../classify/mcp/parse.ts'
import { forwardUpgrade } from '../forward/upgrade.ts'
import { reflectionGuard, type ReflectionGuard } from '../forward/reflection-guard.ts'
import { decisionLabel, decisionRecord, parseRefusalRecord } from '../record/decision-record.ts'
import type { RecordSink } from '../record/records.ts'
import type { Metrics } from '../record/metrics.ts'
import type { Logger } from '../record/log.ts'
import type { Runtime } from './runtime.ts'
import type { PipelineServices } from './services.ts'
import { resolveCallTask } from '../trust/resolve-task.ts'
import { bufferHeldBody, callDigest } from '../trust/call-digest.ts'
import type { RateLimitStage } from '../ratelimit/stage.ts'
import type { CallTracing } from '../telemetry/traces.ts'

export interface RequestContext {
  via: Via
  tunnelAuthority?: { host: string; port: number; scheme: Scheme }
  /** Set for an HTTP upgrade request: the raw client socket and the bytes read past the headers. */
  upgrade?: { socket: Duplex; head: Buffer }
}

export interface PipelineDeps {
  runtime: () => Runtime
  policy: () => PolicyEvaluator | null
  services: PipelineServices
  records: RecordSink
  metrics: Metrics
  logger: Logger
  /** Rate limits (ratelimit/stage.ts); none when absent. */
  rateLimits?: RateLimitStage | null
  /** OpenTelemetry spans of calls (telemetry/traces.ts); none when tracing is off. */
  tracing?: CallTracing | null
}

export function allowlistVerdict(tool: CompiledTool | null, match: RouteMatch | null): AllowlistVerdict {
  if (tool === null) return { kind: 'no_tool' }
  if (match === null) return { kind: 'allowed' }
  switch (match.kind) {
    case 'route': return { kind: 'allowed' }
    case 'denied': return { kind: 'denied', reason: match.reason }
    case 'none': return { kind: 'no_route', nearMisses: match.nearMisses }
  }
}

export class RequestPipeline {
  private readonly deps: PipelineDeps
  /** MCP state kept across requests and config reloads: pinned tool definitions, MCP task bindings. */
  private readonly mcpStage: McpStage

  constructor(deps: PipelineDeps) {
    this.deps = deps
    this.mcpStage = new McpStage(deps.records, (task) => deps.services.tasks?.get(task) !== undefined, { runtime: deps.runtime, services: deps.services })
  }

  /**
   * Decides a classified call (shared by requests, CONNECT and `toolgate decide`). earlierCalls:
   * tool calls of the same request decided before this one (an MCP batch), which the policy
   * counts as calls so far.
   */
  decideCall(call: ToolCall, tool: CompiledTool | null, match: RouteMatch | null, rt: Runtime, verdict: AllowlistVerdict = allowlistVerdict(tool, match), opts: { rateLimits?: boolean; earlierCalls?: number } = {}): Decision {
    const started = process.hrtime.bigint()
    const { tasks } = this.deps.services
    const task = call.taskId !== null && tasks ? tasks.get(call.taskId) : undefined
    const mode = tool?.config.mode ?? rt.config.mode
    const limits = verdict.kind === 'allowed' && opts.rateLimits !== false ? this.deps.rateLimits ?? null : null
    const view = task && tasks ? tasks.policyView(task) : null
    if (view) view.calls += opts.earlierCalls ?? 0
    const decision = decide(call, verdict, {
      mode,
      policy: this.deps.policy(),
      agent: rt.agent,
      task: { known: task !== undefined, view },
      tasksRequired: rt.config.tasks.required,
      now: new Date(),
      ...(limits ? { rateLimits: limits.view(call, rt.agent) } : {}),
    }, started)
    // An allowed call takes its tokens here; over a limit it is refused (429 / JSON-RPC -32029).
    return limits ? limits.apply(call, rt.agent, decision) : decision
  }

  handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    this.run(req, res, ctx).catch((err: unknown) => {
      this.deps.logger.error('request pipeline failed', { error: (err as Error).message })
      writeJsonError(res, 500, { error: 'internal_error', reason: 'toolgate failed to handle the request' })
    })
  }

  private async run(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const startedAt = process.hrtime.bigint()
    this.deps.tracing?.begin(req, ctx.via)
    const rt = this.deps.runtime()
    const raw: RawRequest = { via: ctx.via, method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders }
    if (ctx.tunnelAuthority) raw.tunnelAuthority = ctx.tunnelAuthority
    const classified: Classified = classify(raw, { allowlist: rt.allowlist, newId: randomUUID, maxHeaderBytes: rt.config.limits.max_header_bytes, overrideHints: rt.overrideHints })
    if (!classified.ok) {
      this.refuseUnparsed(res, rt, classified, ctx.via, startedAt)
      this.deps.tracing?.finish(req, null, null, classified.status)
      req.resume()
      return
    }
    const { call, tool, routeMatch, upstream } = classified
    await resolveCallTask(this.deps.services.grants ?? null, call, classified.txnToken)
    const mcp = tool !== null ? rt.mcp.get(tool.name) ?? null : null
    // Every request a lenient router could send to the MCP handler is inspected as MCP or refused.
    const gate = mcp !== null && tool !== null ? mcpEndpointGate(mcp, tool, call, req, ctx.upgrade !== undefined) : { kind: 'outside' as const }
    if (gate.kind === 'refuse') return this.refuseMcp(req, res, rt, classified, gate.reply, gate.reason, startedAt)
    if (gate.kind === 'messages') return this.runMcpPost(req, res, ctx, rt, classified, mcp!, startedAt)
    // The endpoint's bodiless GET (server stream) and DELETE (end of session) read and end; what
    // the server says on them is filtered like any tools/list answer.
    if (gate.kind === 'stream') call.access = 'read'
    let decision = this.decideCall(call, tool, routeMatch, rt)
    decision = this.routeChecks(call, tool, decision)
    this.deps.metrics.decisionSeconds.observe({ decision: decisionLabel(decision) }, decision.decideSeconds)
    if (this.deps.rateLimits) decision = await this.deps.rateLimits.applyGlobal(call, rt.agent, decision)
    this.deps.tracing?.decided(req, call, decision)

    const contentLength = Number(req.headers['content-length'] ?? 0)
    if (decision.pass && contentLength > rt.config.limits.max_request_body_bytes) {
      return this.finish(req, res, rt, { call, decision, credential: null, status: 413, failure: { kind: 'request_too_large', reason: `request body exceeds ${rt.config.limits.max_request_body_bytes} bytes` }, startedAt })
    }
    if (!decision.pass) return this.finish(req, res, rt, { call, decision, credential: null, status: decision.status, failure: null, startedAt })
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
    const responseTransform = gate.kind === 'stream' ? this.mcpStage.streamFilter(mcp!, call, rt.config.limits.max_inspected_body_bytes) : undefined
    return this.proceed(req, res, ctx, rt, { call, tool, upstream, decision, body: hasBody ? req : null, startedAt, ...(responseTransform ? { responseTransform } : {}) })
  }

  /** Refusals that depend on the route and tool rather than on the policy. */
  private routeChecks(call: ToolCall, tool: CompiledTool | null, decision: Decision): Decision {
    if (decision.allow && tool?.config.passthrough) {
      // Passthrough means an uninspected tunnel: toolgate never makes requests to such a tool itself.
      return { ...decision, allow: false, pass: false, stage: 'allowlist', status: 403, reasons: [`tool ${tool.name} is passthrough: reachable through CONNECT only`] }
    }
    if (decision.allow && call.upgrade && !call.route?.upgrade) {
      return { ...decision, allow: false, pass: false, stage: 'allowlist', status: 403, reasons: ['protocol upgrade is not allowed on this route'] }
    }
    return decision
  }

  /** A POST to an MCP endpoint: every JSON-RPC message decided, the same bytes forwarded or a JSON-RPC denial. */
  private async runMcpPost(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, rt: Runtime, classified: Extract<Classified, { ok: true }>, mcp: CompiledMcpRules, startedAt: bigint): Promise<void> {
    const { call, tool, routeMatch, upstream } = classified
    // The allowlist (host, route, deny rules) still comes first, before any body is read.
    const verdict = allowlistVerdict(tool, routeMatch)
    if (verdict.kind !== 'allowed') {
      const decision = this.decideCall(call, tool, routeMatch, rt, verdict)
      return this.finish(req, res, rt, { call, decision, credential: null, status: decision.status, failure: null, startedAt })
    }
    const max = rt.config.limits.max_inspected_body_bytes
    const body = await readBoundedBody(req, max)
    const parsed = parseMcpRequest(body, req.headers['content-type'], max, rt.config.limits.max_batch_messages)
    if (!parsed.ok) return this.refuseMcp(req, res, rt, classified, refusalReply(parsed, call.id), parsed.reason, startedAt)
    // Batch size and the 2026-07-28 mirrored headers (Mcp-Method / Mcp-Name / Mcp-Param-*).
    const checked = this.mcpStage.checkRequest(parsed, req.rawHeaders, tool!.name, rt.config.limits.max_batch_messages, call.id)
    if (!checked.ok) return this.refuseMcp(req, res, rt, classified, checked.reply, checked.reason, startedAt)
    this.deps.tracing?.mcpRequest(req, parsed)
    // Each tools/call of a batch is a call of the task: decided with those before it counted.
    let toolCalls = 0
    const decideOne = (message: McpMessage, reasonIfDenied?: string): MessageDecision => {
      const mcall = messageCall(call, message, mcp)
      const verdict = reasonIfDenied !== undefined ? { kind: 'denied' as const, reason: reasonIfDenied } : this.mcpStage.verdict(message, mcp, tool!.name, call.taskId)
      const decision = this.routeChecks(mcall, tool, this.decideCall(mcall, tool, routeMatch, rt, verdict, { earlierCalls: toolCalls }))
      if (message.call.method === 'tools/call') toolCalls++
      this.deps.metrics.decisionSeconds.observe({ decision: decisionLabel(decision) }, decision.decideSeconds)
      this.deps.tracing?.decided(req, mcall, decision)
      return { call: mcall, decision }
    }
    const decisions = decideWithinBudget(parsed.messages, rt.config.limits.mcp_evaluation_budget_ms, (m) => decideOne(m), (m, _i, reason) => decideOne(m, reason))
    // Global limits: one service round trip per message that passed so far.
    if (this.deps.rateLimits) for (const d of decisions) d.decision = await this.deps.rateLimits.applyGlobal(d.call, rt.agent, d.decision)
    // One record per request: the request's decision, with each message's outcome in it.
    const chosen = requestDecision(decisions)
    const extra = this.mcpStage.recordFields(parsed, decisions, mcp, tool!.name)
    const denial = mcpDenial(parsed, decisions, mcp, checked.modern)
    if (denial !== null) {
      res.writeHead(denial.status, denial.headers)
      res.end(denial.body)
      const failure = chosen.decision.pass ? { kind: 'batch_refused', reason: 'not forwarded: batches are refused for this tool' } : null
      return this.finish(req, res, rt, { call: chosen.call, decision: chosen.decision, credential: null, status: denial.status, failure, startedAt, ...(extra ? { extra } : {}) })
    }
    const responseTransform = this.mcpStage.postFilter(mcp, parsed, call, max, upstream)
    return this.proceed(req, res, ctx, rt, { call: chosen.call, tool, upstream: { ...upstream, headers: withoutAgentCredentials(upstream.headers) }, decision: chosen.decision, body: body!, startedAt, responseTransform, calls: Math.max(1, toolCalls), ...(extra ? { extra } : {}) })
  }

  /** A request to an MCP tool refused before (or instead of) deciding its messages: a JSON-RPC error and one record. */
  private refuseMcp(req: IncomingMessage, res: ServerResponse, rt: Runtime, classified: Extract<Classified, { ok: true }>, reply: JsonRpcReply, reason: string, startedAt: bigint): void {
    const { call, tool, routeMatch } = classified
    res.writeHead(reply.status, reply.headers)
    res.end(reply.body)
    const decision = this.decideCall(call, tool, routeMatch, rt, { kind: 'denied', reason })
    this.finish(req, res, rt, { call, decision: { ...decision, allow: false, stage: 'parse', pass: false, status: reply.status }, credential: null, status: reply.status, failure: null, startedAt })
  }

  /** After a passing decision: approval, task accounting, credential, forward, record. */
  private async proceed(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, rt: Runtime, p: {
    call: ToolCall
    tool: CompiledTool | null
    upstream: UpstreamRequest
    decision: Decision
    body: Readable | Buffer | null
    startedAt: bigint
    responseTransform?: ForwardInput['responseTransform']
    /** Fields added to the request's record (the per-message outcomes of an MCP batch). */
    extra?: Record<string, unknown>
    /** Calls of the task this request makes (the tools/call messages of an MCP batch); default 1. */
    calls?: number
  }): Promise<void> {
    const { call, tool, upstream, startedAt } = p
    let decision = p.decision
    let body = p.body
    // Aborted when the agent goes away, so a held approval or a token fetch stops waiting for it.
    const abort = new AbortController()
    res.on('close', () => { if (!res.writableFinished) abort.abort() })

    // Step-up approval: the call waits (bounded) until a human approves or denies.
    const { approvals, credentials, tasks } = this.deps.services
    if (decision.allow && decision.approval !== null) {
      if (!approvals) {
        decision = { ...decision, allow: false, pass: decision.mode === 'report', stage: 'approval', status: 403, reasons: [...decision.reasons, 'approval required but approvals are not configured'] }
      } else {
        // The held call's body is read now (bounded): its digest binds the approval to exactly these bytes.
        const held = await bufferHeldBody(body, rt.config.limits.max_inspected_body_bytes)
        body = held
        const d = callDigest(call, held)
        const verdict = held === null
          ? { approved: false, reason: `a call held for approval may carry at most ${rt.config.limits.max_inspected_body_bytes} bytes of body` }
          : await approvals.request({ decisionId: call.id, tool: call.tool ?? '', method: call.method, host: call.target.host, path: call.target.path, reason: decision.approval.reason, taskId: call.taskId, target: d.target, bodySha256: d.bodySha256, callDigest: d.digest }, abort.signal)
        if (!verdict.approved) decision = { ...decision, allow: false, pass: false, stage: 'approval', status: 403, reasons: [...decision.reasons, verdict.reason] }
      }
      if (!decision.pass) return this.finish(req, res, rt, { call, decision, credential: null, status: decision.status, failure: null, startedAt })
    }
    if (call.taskId !== null && tasks) tasks.countCall(call.taskId, p.calls ?? 1)

    // Credentials only for allowed calls of tools that have one (never passthrough, never report-mode passes).
    let headers = upstream.headers
    let credentialRecord: CredentialRecord | null = null
    let reflection: ReflectionGuard | null = null
    const toolCredential = tool?.config.credential
    if (toolCredential && decision.allow) {
      if (!credentials) {
        return this.finish(req, res, rt, { call, decision: { ...decision, allow: false, pass: false, stage: 'credential', status: 503, reasons: ['credential providers are not configured'] }, credential: null, status: 503, failure: null, startedAt })
      }
      const task = call.taskId !== null && tasks ? tasks.get(call.taskId) ?? null : null
      const span = this.deps.tracing?.child(req, 'toolgate credential')
      const got = await credentials.obtain({ decisionId: call.id, task, tool: call.tool ?? '', toolCredential, narrowing: decision.credential, agent: rt.agent, signal: abort.signal })
      span?.end({ 'toolgate.credential.provider': toolCredential.provider }, got.ok ? undefined : got.reason)
      if (!got.ok) {
        return this.finish(req, res, rt, { call, decision: { ...decision, allow: false, pass: false, stage: 'credential', status: got.status, reasons: [got.reason] }, credential: null, status: got.status, failure: null, startedAt })
      }
      headers = credentials.inject(headers, got.credential)
      const toolLabel = call.tool ?? 'none'
      reflection = reflectionGuard(got.credential.value, rt.config.hardening.reflection?.action ?? 'redact', (place) => this.deps.metrics.credentialReflections.inc({ tool: toolLabel, place }))
      credentialRecord = { provider: got.credential.provider, issuance_id: got.credential.issuanceId, expires_at: new Date(got.credential.expiresAt).toISOString() }
    }

    const upstreamTool = rt.upstreams.get(call.tool ?? '')
    if (!upstreamTool) throw new Error(`no upstream settings for tool ${call.tool}`)
    let result: ForwardResult
    if (ctx.upgrade) {
      // Only WebSocket upgrades are forwarded (the route allowed the upgrade above).
      const protocol = String(req.headers['upgrade'] ?? '').toLowerCase()
      if (protocol !== 'websocket' || req.method !== 'GET') {
        const refused: Decision = { ...decision, allow: false, pass: false, stage: 'parse', status: 400, reasons: ['only GET WebSocket upgrades are supported'] }
        return this.finish(req, res, rt, { call, decision: refused, credential: null, status: 400, failure: null, startedAt })
      }
      const started = process.hrtime.bigint()
      const up = await forwardUpgrade({ tool: upstreamTool, request: { ...upstream, headers }, protocol, client: { req, socket: ctx.upgrade.socket, head: ctx.upgrade.head }, connectTimeoutMs: rt.pools.connectTimeoutMs, idleTimeoutMs: rt.config.timeouts.idle_ms, secureContext: rt.pools.secureContextFor(upstreamTool) })
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      result = up.ok
        ? { status: 101, upstreamStatus: 101, upstreamSeconds: seconds, failure: null }
        : { status: up.status, upstreamStatus: null, upstreamSeconds: null, failure: { kind: up.status === 403 ? 'destination' : 'connect', reason: up.reason } }
    } else {
      const span = this.deps.tracing?.child(req, 'toolgate upstream', true)
      if (span) ({ headers, body } = span.injectRequest(headers, body))
      result = await forward({
        pools: rt.pools,
        tool: upstreamTool,
        request: { ...upstream, headers },
        body,
        maxRequestBodyBytes: rt.config.limits.max_request_body_bytes,
        maxResponseBodyBytes: rt.config.limits.max_response_body_bytes,
        signal: abort.signal,
        ...(p.responseTransform ? { responseTransform: p.responseTransform } : {}),
        ...(reflection ? { reflection } : {}),
      }, res)
      span?.end({ 'http.response.status_code': result.upstreamStatus ?? 0 }, result.failure?.reason)
    }
    if (result.upstreamSeconds !== null) {
      this.deps.metrics.upstreamSeconds.observe({ tool: call.tool ?? 'none', outcome: result.failure ? result.failure.kind : 'ok' }, result.upstreamSeconds)
    }
    if (result.failure?.kind === 'destination') {
      decision = { ...decision, allow: false, pass: false, stage: 'destination', status: 403, reasons: [result.failure.reason] }
    }
    // The injected credential came back in the response (forward/reflection-guard.ts).
    const reflected = reflection && reflection.found.size > 0 ? { credential_reflected: { action: reflection.action, places: [...reflection.found] } } : null
    const extra = p.extra || reflected ? { ...p.extra, ...reflected } : null
    this.finish(req, res, rt, { call, decision, credential: credentialRecord, status: result.status, failure: result.failure, upstream: result, startedAt, ...(extra ? { extra } : {}) })
  }

  private finish(req: IncomingMessage, res: ServerResponse, rt: Runtime, o: { call: ToolCall; decision: Decision; credential: CredentialRecord | null; status: number; failure: { kind: string; reason: string } | null; upstream?: ForwardResult; startedAt: bigint; extra?: Record<string, unknown> }): void {
    const { call, decision } = o
    if (!res.headersSent && o.status !== 499) {
      if (!decision.pass || decision.stage === 'destination') {
        writeJsonError(res, o.status, { error: decision.stage !== 'rate_limit' ? 'denied' : o.status === 503 ? 'rate_limit_unavailable' : 'rate_limited', reason: decision.reasons.join('; '), decision_id: call.id, ...(decision.rateLimit ? { retry_after_s: decision.rateLimit.retryAfterS } : {}) }, decision.rateLimit?.headers)
      } else if (o.failure) {
        writeJsonError(res, o.status, { error: o.failure.kind, reason: o.failure.reason, decision_id: call.id })
      }
    }
    // An unread request body would otherwise stall the keep-alive connection.
    if (!req.readableEnded) req.resume()
    this.deps.metrics.requests.inc({ tool: call.tool ?? 'none', decision: decisionLabel(decision), stage: decision.stage ?? '' })
    const record = decisionRecord({
      call,
      decision,
      // The agent as the request's own snapshot saw it: a reload during the call must not
      // rewrite who made it.
      agent: rt.agent,
      credential: o.credential,
      upstreamStatus: o.upstream?.upstreamStatus ?? null,
      status: o.status,
      failure: o.failure,
      upstreamSeconds: o.upstream?.upstreamSeconds ?? null,
      totalSeconds: Number(process.hrtime.bigint() - o.startedAt) / 1e9,
    })
    if (o.extra) Object.assign(record, o.extra)
    // The record names the call's trace, so a reviewer (and the OTLP log record) can find it.
    const traced = this.deps.tracing?.finish(req, call, decision, o.status)
    if (traced) { record['trace_id'] = traced.traceId; record['span_id'] = traced.spanId }
    this.deps.records.write(record)
  }

  private refuseUnparsed(res: ServerResponse, rt: Runtime, c: Extract<Classified, { ok: false }>, via: Via, startedAt: bigint): void {
    writeJsonError(res, c.status, { error: c.status === 404 ? 'unknown_tool' : 'bad_request', reason: c.reason, decision_id: c.id })
    this.deps.metrics.requests.inc({ tool: 'none', decision: 'deny', stage: 'parse' })
    this.deps.records.write(parseRefusalRecord({ id: c.id, via, agent: rt.agent, reason: c.reason, status: c.status, startedAt }))
  }
}
