// The request pipeline: the one chain every call goes through, on every listener and in the dry
// run of `toolgate decide`. Read top to bottom, `run` (a request) and `tunnel` (CONNECT and
// transparent TLS) are the stages in order:
//
//   classify → decide → route checks → MCP → approval → credential → forward | tunnel | upgrade | dry run → finish
//
// Listeners only turn sockets into requests (or tunnels) and call handle()/tunnel(); they never
// decide, answer a decided call or write a record. Each stage lives in its own module and talks
// through ToolCall and Decision values; decide/deny.ts is the only builder of a Decision and
// finish.ts the only writer of records and request metrics. One Runtime snapshot (config,
// compiled allowlist, upstream pools) is read when the call arrives and used for its whole
// life, so a hot reload never mixes two configs in one call. See docs/architecture.md.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { randomUUID } from 'node:crypto'
import type { Duplex, Readable } from 'node:stream'
import { classify, type Classified, type RawRequest } from '../classify/request.ts'
import type { CompiledTool, RouteMatch } from '../classify/allowlist.ts'
import type { Scheme, ToolCall, Via } from '../classify/toolcall.ts'
import type { PolicyEvaluator } from '../decide/decide.ts'
import type { Decision } from '../decide/decision.ts'
import { deny } from '../decide/deny.ts'
import type { CredentialRecord } from '../credential/credential.ts'
import type { ForwardInput, ForwardResult, UpstreamRequest } from '../forward/forward.ts'
import type { RecordSink } from '../record/records.ts'
import type { DecisionRecordExtras } from '../record/decision-record.ts'
import type { Metrics } from '../record/metrics.ts'
import type { Logger } from '../record/log.ts'
import type { Runtime } from '../listen/runtime.ts'
import type { PipelineServices } from './services.ts'
import { decideStage } from './decide-stage.ts'
import { requestRouteChecks, tunnelRouteChecks } from './route-checks.ts'
import { McpStage, mcpEndpointGate, mcpStage, refuseMcp } from './mcp.ts'
import type { McpFailureAnswer } from './mcp-failure.ts'
import { approvalStage } from './approval.ts'
import { credentialStage } from './credential.ts'
import { forwardTerminal, upgradeTerminal, dryRunTerminal } from './terminals.ts'
import { pipeTunnel, type TunnelClient, type TunnelInterceptor } from './tunnel.ts'
import { hostPort, plainTunnelTool, routeByFirstBytes } from './tunnel-first-bytes.ts'
import { PlainTunnelServer } from '../listen/plain-tunnel.ts'
import { Recorder, type Failure, type Outcome } from './finish.ts'
import { errorCodeFor, writeError } from './error-body.ts'
import { retryAdvice } from './failure.ts'
import { redirectedPortProblem } from './listener-checks.ts'
import { resolveCallTask } from '../trust/resolve-task.ts'
import type { RateLimitStage } from '../ratelimit/stage.ts'
import type { CallTracing } from '../telemetry/traces.ts'

export interface RequestContext {
  via: Via
  tunnelAuthority?: { host: string; port: number; scheme: Scheme }
  /** Set for an HTTP upgrade request: the raw client socket and the bytes read past the headers. */
  upgrade?: { socket: Duplex; head: Buffer }
  /** Transparent HTTP: the port the connection was redirected from (a Host naming another is refused). */
  redirectedPort?: number
  /** `toolgate decide`: every stage runs, the terminal stage sends nothing. */
  dryRun?: boolean
}

export interface PipelineDeps {
  runtime: () => Runtime
  policy: () => PolicyEvaluator | null
  services: PipelineServices
  records: RecordSink
  metrics: Metrics
  logger: Logger
  /** The TLS interceptor for inspected tunnels, when one exists (it may be created after start). */
  interceptor?: () => TunnelInterceptor | null
  /** Rate limits (ratelimit/stage.ts); none when absent. */
  rateLimits?: RateLimitStage | null
  /** OpenTelemetry spans of calls (telemetry/traces.ts); none when tracing is off. */
  tracing?: CallTracing | null
}

/** A decided, passing call on its way to the terminal stage. */
interface Passing {
  call: ToolCall
  tool: CompiledTool | null
  upstream: UpstreamRequest
  decision: Decision
  body: Readable | Buffer | null
  responseTransform?: ForwardInput['responseTransform']
  /** Tool names an MCP tools/list answer had removed (for the record). */
  hidden?: string[]
  /** Fields an MCP request adds to its record. */
  extra?: DecisionRecordExtras
  /** Calls of the task this request makes (the tools/call messages of an MCP batch); default 1. */
  calls?: number
  /** MCP POST: answers an upstream failure in JSON-RPC (pipeline/mcp-failure.ts). */
  onFailure?: McpFailureAnswer
  /** MCP POST: ends a started SSE answer whose server failed with a JSON-RPC answer event. */
  onStreamFailure?: ForwardInput['streamFailure']
}

export class RequestPipeline {
  readonly recorder: Recorder
  private readonly deps: PipelineDeps
  /** MCP state kept across requests and config reloads: pinned tool definitions, MCP task bindings. */
  private readonly mcp: McpStage
  /** Responses whose call has its record (so a crash after it adds none). */
  readonly #recorded = new WeakSet<ServerResponse>()
  #plain: PlainTunnelServer | null = null

  constructor(deps: PipelineDeps) {
    this.deps = deps
    this.recorder = new Recorder({ records: deps.records, metrics: deps.metrics })
    this.mcp = new McpStage(deps.records, (task) => deps.services.tasks?.get(task) !== undefined, { runtime: deps.runtime, services: deps.services })
  }

  /** Entry for every HTTP listener (proxy, route prefix, intercepted TLS, transparent HTTP, upgrades). */
  handle(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
    this.run(req, res, ctx).catch((err: unknown) => this.crashed(req, res, ctx, err))
  }

  /** A request as a listener received it, through every stage. Resolves once it is recorded. */
  async run(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    const startedAt = process.hrtime.bigint()
    const { tracing, rateLimits } = this.deps
    tracing?.begin(req, ctx.via)
    const rt = this.deps.runtime()
    const dryRun = ctx.dryRun === true
    // Aborted when the agent goes away, so a held approval or a token fetch stops waiting for it.
    const abort = new AbortController()
    res.on('close', () => { if (!res.writableFinished) abort.abort() })

    // 1. classify: the one canonical form decided on and forwarded.
    const classified = this.classify(req, ctx, rt)
    if (!classified.ok) {
      this.refuseRequest(req, res, rt, { id: classified.id, via: ctx.via, reason: classified.reason, status: classified.status, startedAt })
      tracing?.finish(req, null, null, classified.status)
      return
    }
    const { call, tool, routeMatch, upstream } = classified
    // A Txn-Token names the call's task through a verified grant (trust/resolve-task.ts).
    if (classified.txnToken !== null) await resolveCallTask(this.deps.services.grants ?? null, call, classified.txnToken)
    const mcp = tool !== null ? rt.mcp.get(tool.name) ?? null : null
    // Every request a lenient router could send to the MCP handler is inspected as MCP or refused.
    const gate = mcp !== null && tool !== null ? mcpEndpointGate(mcp, tool, call, req, ctx.upgrade !== undefined) : { kind: 'outside' as const }
    // dryRun: a tools/list annotation's representative call (pipeline/mcp-annotate.ts) takes no rate-limit token.
    const decide = (c: ToolCall, v?: Parameters<typeof decideStage>[5], earlierCalls = 0, dryRun = false): Decision => requestRouteChecks(c, tool, decideStage(this.stageDeps(), rt, c, tool, routeMatch, v, { earlierCalls, ...(dryRun ? { rateLimits: false } : {}) }))

    if (gate.kind === 'refuse') return this.finishRequest(req, res, rt, { ...refuseMcp(res, decide(call, { kind: 'denied', reason: gate.reason }), call, gate.reply, gate.reason), startedAt })
    // The endpoint's bodiless GET (server stream) and DELETE (end of session) read and end; what
    // the server says on them is filtered like any tools/list answer.
    if (gate.kind === 'stream') call.access = 'read'

    let passing: Passing
    if (gate.kind === 'messages') {
      // 2-4 for an MCP POST: allowlist, then every JSON-RPC message decided and route-checked.
      const m = await mcpStage({ req, res, rt, stage: this.mcp, call, tool: tool!, routeMatch, upstream, mcp: mcp!, decide, ...(tracing ? { tracing } : {}), ...(rateLimits ? { rateLimits } : {}) })
      if (m.kind === 'answered') return this.finishRequest(req, res, rt, { ...m.outcome, startedAt })
      passing = { call: m.call, tool, upstream: m.upstream, decision: m.decision, body: m.body, responseTransform: m.responseTransform, hidden: m.hidden, calls: m.calls, onFailure: m.onFailure, onStreamFailure: m.onStreamFailure, ...(m.extra ? { extra: m.extra } : {}) }
    } else {
      // 2. decide (local rate limits included)  3. route checks; then global rate limits
      let decision = decide(call)
      if (rateLimits) decision = await rateLimits.applyGlobal(call, rt.agent, decision)
      tracing?.decided(req, call, decision)
      if (!decision.pass) return this.finishRequest(req, res, rt, { call, decision, credential: null, status: decision.status, failure: null, startedAt })
      const max = rt.config.limits.max_request_body_bytes
      if (Number(req.headers['content-length'] ?? 0) > max) {
        return this.finishRequest(req, res, rt, { call, decision, credential: null, status: 413, failure: { kind: 'request_too_large', reason: `request body exceeds ${max} bytes` }, startedAt })
      }
      const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
      const hidden: string[] = []
      passing = { call, tool, upstream, decision, body: hasBody ? req : null, hidden, ...(gate.kind === 'stream' ? { responseTransform: this.mcp.streamFilter(mcp!, call, rt.config.limits.max_inspected_body_bytes, hidden, { dryRun: (c, v) => decide(c, v, 0, true), budgetMs: rt.config.limits.mcp_evaluation_budget_ms }) } : {}) }
    }

    // 5. approval
    // (Stages 5 and 6 are skipped without an await when they have nothing to do: the common case.)
    const approved = passing.decision.approval === null
      ? { decision: passing.decision, body: passing.body }
      : await approvalStage(this.deps.services.approvals, passing.call, passing.decision, passing.body, { dryRun, signal: abort.signal, maxHeldBodyBytes: rt.config.limits.max_inspected_body_bytes })
    const decision = approved.decision
    passing.body = approved.body
    if (!decision.pass) return this.finishRequest(req, res, rt, { call: passing.call, decision, credential: null, status: decision.status, failure: null, startedAt })
    const { tasks } = this.deps.services
    if (!dryRun && passing.call.taskId !== null && tasks) tasks.countCall(passing.call.taskId, passing.calls ?? 1)

    // 6. credential
    const cred = passing.tool?.config.credential === undefined || !decision.allow
      ? { ok: true as const, headers: passing.upstream.headers, record: null }
      : await credentialStage(this.deps.services, rt, passing.call, passing.tool, decision, passing.upstream.headers, { dryRun, signal: abort.signal, span: dryRun ? undefined : tracing?.child(req, 'toolgate credential'), onReflection: (place) => this.deps.metrics.credentialReflections.inc({ tool: passing.call.tool ?? 'none', place }) })
    if (!cred.ok) return this.finishRequest(req, res, rt, { call: passing.call, decision: cred.decision, credential: null, status: cred.decision.status, failure: null, startedAt })

    // 7. forward | upgrade | dry run
    const span = !dryRun && !ctx.upgrade ? tracing?.child(req, 'toolgate upstream', true) : undefined
    // With tracing, an MCP POST's messages carry the upstream span in params._meta too (telemetry/mcp-meta.ts).
    const sent = span ? span.injectRequest(cred.headers, passing.body) : { headers: cred.headers, body: passing.body }
    const request = { ...passing.upstream, headers: sent.headers }
    const result: ForwardResult | { refused: Decision } = dryRun
      ? dryRunTerminal()
      : ctx.upgrade
        ? await upgradeTerminal(rt, passing.call, decision, request, req, ctx.upgrade)
        : await forwardTerminal(rt, passing.call, request, sent.body, res, abort.signal, passing.responseTransform, cred.reflection, passing.onStreamFailure)
    if (span && !('refused' in result)) span.end({ 'http.response.status_code': result.upstreamStatus ?? 0 }, result.failure?.reason)
    if ('refused' in result) return this.finishRequest(req, res, rt, { call: passing.call, decision: result.refused, credential: null, status: result.refused.status, failure: null, startedAt })
    if (result.upstreamSeconds !== null) {
      this.deps.metrics.upstreamSeconds.observe({ tool: passing.call.tool ?? 'none', outcome: result.failure ? result.failure.kind : 'ok' }, result.upstreamSeconds)
    }
    // A destination refused at connect time is a deny by the destination stage (never relaxed).
    const final = result.failure?.kind === 'destination' ? deny(decision, 'destination', [result.failure.reason]) : decision

    // The injected credential came back in the response (forward/reflection-guard.ts).
    const reflection = cred.reflection
    if (reflection && reflection.found.size > 0) passing.extra = { ...passing.extra, credential_reflected: { action: reflection.action, places: [...reflection.found] } }

    // An MCP server that failed (timed out) gets a JSON-RPC answer: a tool call becomes a tool result.
    const status = result.failure && passing.onFailure ? passing.onFailure(res, result.failure, passing.call.id) ?? result.status : result.status

    // 8. finish
    this.finishRequest(req, res, rt, { call: passing.call, decision: final, credential: cred.record, status, failure: result.failure, upstream: result, startedAt, ...(passing.hidden && passing.hidden.length > 0 ? { hidden: passing.hidden } : {}), ...(passing.extra ? { extra: passing.extra } : {}) })
  }

  /**
   * Entry for CONNECT and transparent TLS: the tunnel is decided on its destination like any
   * call, then handed to the TLS interceptor (inspected tools: every request inside is decided
   * again by run()) or piped as bytes through the destination check (passthrough tools). A
   * CONNECT is matched as https and as http (Node and undici tunnel http:// too); when its
   * traffic is inspected, its first bytes decide (tunnel-first-bytes.ts): TLS for an https tool,
   * plain HTTP (each request decided as http by run()) for an http tool, anything else refused.
   */
  async tunnel(raw: { via: 'connect' | 'transparent'; authority: string; rawHeaders: string[] }, client: TunnelClient, opts: { dryRun?: boolean } = {}): Promise<void> {
    const startedAt = process.hrtime.bigint()
    const rt = this.deps.runtime()
    const abort = new AbortController()
    client.onClose(() => abort.abort())
    // 1. classify (as a CONNECT to the authority; transparent TLS names it by SNI:443)
    const classifyAs = (scheme: Scheme, id: () => string): Classified => classify({ via: 'connect', method: 'CONNECT', url: raw.authority, rawHeaders: raw.rawHeaders, connectScheme: scheme }, { allowlist: rt.allowlist, newId: id, maxHeaderBytes: rt.config.limits.max_header_bytes })
    const classified = classifyAs('https', randomUUID)
    if (!classified.ok) {
      client.refuse(classified.status, { code: errorCodeFor(classified.status), reason: classified.reason, decisionId: classified.id })
      this.recorder.refused(rt.agent, { id: classified.id, via: raw.via, reason: classified.reason, status: classified.status, startedAt })
      return
    }
    const tlsCall: ToolCall = { ...classified.call, via: raw.via }
    const { tool } = classified
    // A CONNECT tunnel may carry plain HTTP too (Node, undici): the tool that serves its target as http.
    const plain = raw.via === 'connect' ? plainTunnelTool(classifyAs('http', () => tlsCall.id), raw.via) : null
    const interceptor = this.deps.interceptor?.() ?? null
    const canIntercept = interceptor !== null || opts.dryRun === true
    // 2. decide  3. route checks (inspected or passthrough). An inspected tunnel takes no
    // rate-limit token: each request inside it does.
    const inspect = tool !== null && !tool.config.passthrough && canIntercept
    const checked = tunnelRouteChecks(tool, decideStage(this.stageDeps(), rt, tlsCall, tool, null, undefined, { rateLimits: !inspect }), canIntercept)
    // 5. approval (a passthrough tunnel the policy asks a human about waits like a request)
    const tls = await approvalStage(this.deps.services.approvals, tlsCall, checked.decision, null, { dryRun: opts.dryRun === true, signal: abort.signal, maxHeldBodyBytes: rt.config.limits.max_inspected_body_bytes })
    const tlsOk = tool !== null && tls.decision.pass
    // The CONNECT is recorded as the https call, unless only its http tool lets it through.
    let call = tlsCall
    let decision = tls.decision
    if (plain !== null && !tlsOk) {
      call = plain.call
      decision = tunnelRouteChecks(plain.tool, decideStage(this.stageDeps(), rt, plain.call, plain.tool, null, undefined, { rateLimits: false }), true).decision
    } else if (tool === null && raw.via === 'connect' && decision.stage === 'allowlist') {
      decision = deny(decision, 'allowlist', [`no tool in the allowlist matches ${hostPort(tlsCall)} as https or as http (a CONNECT tunnel may carry either)`])
    }
    const finish = (d: Decision, status: number, failure: Failure | null): void => this.recorder.decided(rt.agent, { call, decision: d, credential: null, status, failure, startedAt })
    if (!decision.pass) {
      client.refuse(403, { code: decision.stage === 'destination' ? 'destination_denied' : 'denied', reason: decision.reasons.join('; '), decisionId: call.id })
      return finish(decision, 403, null)
    }
    // 7. dry run | first bytes decide | intercept | tunnel (no credential ever rides an uninspected tunnel)
    if (opts.dryRun) return finish(decision, 0, null)
    // A refusal or failure inside an opened tunnel is a call of its own, linked to the CONNECT.
    const recordAfter = (failure: Failure, refused: boolean, status: number): string => {
      const id = randomUUID()
      const d = refused ? deny({ id, mode: decision.mode }, failure.kind === 'destination' ? 'destination' : 'route', [failure.reason]) : { ...decision, id }
      this.recorder.decided(rt.agent, { call: { ...call, id }, decision: d, credential: null, status, failure, startedAt: process.hrtime.bigint(), tunnelId: call.id })
      return id
    }
    if (raw.via === 'connect' && (plain !== null || (checked.inspect && interceptor !== null))) {
      client.established()
      finish(decision, 200, null)
      const target = hostPort(tlsCall)
      return routeByFirstBytes({
        socket: client.socket,
        head: client.firstBytes,
        timeoutMs: rt.config.timeouts.client_headers_ms,
        record: recordAfter,
        tls: !tlsOk
          ? { refused: tool === null ? `no tool serves ${target} as https${plain ? ` (tool ${plain.tool.name} serves it as plain http)` : ''}` : tls.decision.reasons.join('; ') }
          : checked.inspect && interceptor !== null
            ? (bytes) => interceptor.terminate(client.socket, bytes, { host: tlsCall.target.host, port: tlsCall.target.port, scheme: 'https' }, 'intercepted', (f) => { recordAfter(f, false, 0) })
            : (bytes) => pipeTunnel(rt, tlsCall, { ...client, firstBytes: bytes }, {
              established: () => {},
              failed: (_status, f) => {
                recordAfter(f.kind === 'destination' ? f : { kind: 'upstream_connect', reason: f.reason }, f.kind === 'destination', 0)
                client.socket.destroy()
              },
            }),
        http: plain !== null
          ? (bytes) => this.#plainTunnels().serve(client.socket, bytes, { host: plain.call.target.host, port: plain.call.target.port, scheme: 'http' })
          : { refused: `no tool serves ${target} as plain http${tool !== null ? ` (tool ${tool.name} serves it as https only)` : ''}` },
      })
    }
    if (checked.inspect && interceptor !== null) {
      client.established()
      finish(decision, 200, null)
      client.intercept(interceptor, { host: call.target.host, port: call.target.port, scheme: 'https' }, (f) => { recordAfter(f, false, 0) })
      return
    }
    pipeTunnel(rt, call, client, {
      established: () => {
        client.established()
        finish(decision, 200, null)
      },
      failed: (status, failure) => {
        const d = failure.kind === 'destination' ? deny(decision, 'destination', [failure.reason]) : decision
        client.refuse(status, { code: failure.kind, reason: failure.reason, decisionId: call.id })
        finish(d, status, failure)
      },
    })
  }

  /** The server for plain HTTP tunnels, made on the first one. */
  #plainTunnels(): PlainTunnelServer {
    this.#plain ??= new PlainTunnelServer({ handle: (req, res, ctx) => this.handle(req, res, ctx), refuseUnread: (via, status, reason) => this.refuseUnread(via, status, reason) }, () => this.deps.runtime().config)
    return this.#plain
  }

  /**
   * A request a listener refused before it could be read (malformed framing, oversized headers,
   * no readable ClientHello, CONNECT on the transparent listener): recorded and counted like
   * any refusal. The listener has already answered or closed the connection.
   */
  refuseUnread(via: Via, status: number, reason: string, startedAt: bigint | null = null, stage: 'parse' | 'internal' = 'parse'): string {
    const id = randomUUID()
    this.recorder.refused(this.deps.runtime().agent, { id, via, reason, status, startedAt, stage })
    return id
  }

  private stageDeps(): { policy: () => PolicyEvaluator | null; tasks: PipelineServices['tasks']; rateLimits: RateLimitStage | null } {
    return { policy: this.deps.policy, tasks: this.deps.services.tasks, rateLimits: this.deps.rateLimits ?? null }
  }

  private classify(req: IncomingMessage, ctx: RequestContext, rt: Runtime): Classified {
    const raw: RawRequest = { via: ctx.via, method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, ...(ctx.dryRun ? {} : { httpVersion: req.httpVersion }) }
    if (ctx.tunnelAuthority) raw.tunnelAuthority = ctx.tunnelAuthority
    if (ctx.redirectedPort !== undefined) {
      const problem = redirectedPortProblem(req.url ?? '', req.headers.host, ctx.redirectedPort)
      if (problem !== null) return { ok: false, status: 400, reason: problem, id: randomUUID() }
    }
    return classify(raw, { allowlist: rt.allowlist, newId: randomUUID, maxHeaderBytes: rt.config.limits.max_header_bytes, overrideHints: rt.overrideHints })
  }

  private refuseRequest(req: IncomingMessage, res: ServerResponse, rt: Runtime, r: { id: string; via: Via; reason: string; status: number; startedAt: bigint }): void {
    writeError(res, r.status, { code: errorCodeFor(r.status), reason: r.reason, decisionId: r.id })
    if (!req.readableEnded) req.resume()
    this.#recorded.add(res)
    this.recorder.refused(rt.agent, r)
  }

  /** Answers a refused or failed call (unless already answered) and records it. */
  private finishRequest(req: IncomingMessage, res: ServerResponse, rt: Runtime, o: Outcome): void {
    const { call, decision } = o
    if (!res.headersSent && o.status !== 499) {
      if (!decision.pass || decision.stage === 'destination') {
        const code = decision.stage === 'rate_limit' ? (o.status === 503 ? 'rate_limit_unavailable' : 'rate_limited') : decision.stage === 'destination' ? 'destination_denied' : 'denied'
        writeError(res, o.status, { code, reason: decision.reasons.join('; '), decisionId: call.id, ...(decision.rateLimit ? { retryAfterS: decision.rateLimit.retryAfterS } : {}) }, decision.rateLimit?.headers)
      } else if (o.failure) {
        // Retry advice: x-should-retry: false when the upstream may have acted, Retry-After when it was unreachable.
        writeError(res, o.status, { code: o.failure.kind, reason: o.failure.reason, decisionId: call.id }, retryAdvice(o.failure.kind, call.method))
      }
    }
    // An unread request body would otherwise stall the keep-alive connection.
    if (!req.readableEnded) req.resume()
    this.#recorded.add(res)
    // The record names the call's trace, so a reviewer (and the OTLP log record) can find it.
    const traced = this.deps.tracing?.finish(req, call, decision, o.status)
    this.recorder.decided(rt.agent, traced ? { ...o, trace: traced } : o)
  }

  /** A bug reached the top: the agent gets a 500, and the call its one record unless it has one. */
  private crashed(req: IncomingMessage, res: ServerResponse, ctx: RequestContext, err: unknown): void {
    this.deps.logger.error('request pipeline failed', { error: (err as Error).message })
    if (this.#recorded.has(res)) {
      writeError(res, 500, { code: 'internal_error', reason: 'toolgate failed to handle the request' })
      return
    }
    const id = this.refuseUnread(ctx.via, 500, 'toolgate failed to handle the request', null, 'internal')
    writeError(res, 500, { code: 'internal_error', reason: 'toolgate failed to handle the request', decisionId: id })
    if (!req.readableEnded) req.resume()
  }
}

export type { CredentialRecord, RouteMatch }
