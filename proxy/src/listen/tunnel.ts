// What a CONNECT and a transparently redirected TLS connection have in common: the tunnel is
// decided on its destination (host and port) like any call, then either handed to the TLS
// interceptor (inspected tools: every request inside is decided again) or piped as bytes to the
// destination through the tool's destination check (passthrough tools). Each caller keeps only
// what differs: how it answers the client.

import { connect as netConnect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { checkedLookup } from '../forward/lookup.ts'
import { checkDestination } from '../decide/destination.ts'
import { decisionLabel, decisionRecord } from '../record/decision-record.ts'
import type { CompiledTool } from '../classify/allowlist.ts'
import type { ToolCall } from '../classify/toolcall.ts'
import type { Decision } from '../decide/decision.ts'
import type { RecordSink } from '../record/records.ts'
import type { Metrics } from '../record/metrics.ts'
import type { RequestPipeline } from './pipeline.ts'
import type { Runtime } from './runtime.ts'

export interface TunnelDeps {
  pipeline: RequestPipeline
  runtime: () => Runtime
  records: RecordSink
  metrics: Metrics
}

export type TunnelFailure = { kind: string; reason: string }

export interface TunnelDecision {
  decision: Decision
  /** True when the tunnel goes to the TLS interceptor rather than straight to the destination. */
  inspect: boolean
  /** Records the decision with what became of the tunnel (a refused destination turns it into a deny). */
  record(status: number, failure: TunnelFailure | null): void
}

export function decideTunnel(deps: TunnelDeps, rt: Runtime, call: ToolCall, tool: CompiledTool | null, canIntercept: boolean, startedAt: bigint): TunnelDecision {
  const inspected = tool !== null && !tool.config.passthrough
  const inspect = inspected && canIntercept
  // An inspected tunnel is only opened here; its requests are decided one by one inside it, so
  // the tunnel itself needs the allowlist match alone. Passthrough tunnels are decided in full.
  // An inspected tunnel takes no rate-limit token: each request inside it does.
  let decision = deps.pipeline.decideCall(call, tool, null, rt, undefined, { rateLimits: !inspect })
  if (inspect) decision = { ...decision, allow: true, pass: true, stage: null, reasons: ['tunnel opened for inspection'], status: 200 }
  // A tool that must be inspected is never tunnelled unseen, whatever the mode: without an
  // interceptor (interception switched off by the embedder) its tunnel is refused.
  else if (inspected) decision = { ...decision, allow: false, pass: false, stage: 'allowlist', reasons: [`tool ${tool.config.name} must be inspected, but TLS interception is not available; a plain tunnel is refused`], status: 403 }
  deps.metrics.decisionSeconds.observe({ decision: decisionLabel(decision) }, decision.decideSeconds)
  const record = (status: number, failure: TunnelFailure | null): void => {
    const d: Decision = failure?.kind === 'destination' ? { ...decision, allow: false, pass: false, stage: 'destination', status: 403, reasons: [failure.reason] } : decision
    deps.metrics.requests.inc({ tool: call.tool ?? 'none', decision: decisionLabel(d), stage: d.stage ?? '' })
    deps.records.write(decisionRecord({ call, decision: d, agent: rt.agent, credential: null, upstreamStatus: null, status, failure, upstreamSeconds: null, totalSeconds: Number(process.hrtime.bigint() - startedAt) / 1e9 }))
  }
  return { decision, inspect, record }
}

/**
 * Connects to the call's destination (the exact address checked by the tool's destination
 * rules) and pipes bytes both ways. `established` runs before any upstream byte reaches the
 * client (a CONNECT answers its 200 there); `failed` runs once if no connection is made.
 */
export function pipeTunnel(rt: Runtime, call: ToolCall, client: Duplex, firstBytes: Buffer, handlers: { established(): void; failed(status: number, failure: TunnelFailure): void }): void {
  const upstreamTool = rt.upstreams.get(call.tool ?? '')
  if (!upstreamTool) {
    handlers.failed(403, { kind: 'allowlist', reason: 'no tool' })
    return
  }
  if (call.target.hostIsIp) {
    // IP literals skip DNS, and so the checked lookup: check the literal here.
    const refused = checkDestination(call.target.host, upstreamTool.rules)
    if (refused !== null) {
      handlers.failed(403, { kind: 'destination', reason: refused })
      return
    }
  }
  const upstream: Socket = netConnect({ host: call.target.host, port: call.target.port, lookup: checkedLookup(upstreamTool.rules), timeout: rt.config.timeouts.connect_ms })
  let established = false
  // Set once the failure has been reported: a timeout and a later error report it once only.
  let failed = false
  upstream.once('timeout', () => {
    if (established || failed) return
    failed = true
    upstream.destroy()
    handlers.failed(504, { kind: 'timeout', reason: 'upstream connect timed out' })
  })
  // on, not once: a socket may report more than one error, and every one must be handled.
  upstream.on('error', (err: Error & { code?: string }) => {
    if (established) { client.destroy(); return }
    if (failed) return
    failed = true
    const blocked = err.code === 'TOOLGATE_DESTINATION_BLOCKED'
    handlers.failed(blocked ? 403 : 502, { kind: blocked ? 'destination' : 'connect', reason: err.message })
  })
  upstream.once('connect', () => {
    established = true
    upstream.setTimeout(rt.config.timeouts.idle_ms)
    upstream.on('timeout', () => { upstream.destroy(); client.destroy() })
    handlers.established()
    if (firstBytes.length > 0) upstream.write(firstBytes)
    upstream.pipe(client)
    client.pipe(upstream)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
}
