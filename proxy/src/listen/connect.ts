// CONNECT handling: the tunnel is decided on its target (host and port) like any call. A
// passthrough tool (or any tool while TLS interception is off) gets a plain TCP tunnel to the
// checked destination address; an inspected tool's tunnel is handed to the TLS interceptor, which
// decides every request inside it again.

import { connect as netConnect, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { IncomingMessage } from 'node:http'
import { randomUUID } from 'node:crypto'
import { classify } from '../classify/request.ts'
import { checkedLookup } from '../forward/lookup.ts'
import { checkDestination } from '../decide/destination.ts'
import { decisionLabel, decisionRecord } from '../record/decision-record.ts'
import type { RequestPipeline } from './pipeline.ts'
import type { Runtime } from './runtime.ts'
import type { RecordSink } from '../record/records.ts'
import type { Metrics } from '../record/metrics.ts'
import type { Decision } from '../decide/decision.ts'
import type { ToolCall } from '../classify/toolcall.ts'

export interface TunnelInterceptor {
  intercept(socket: Duplex, head: Buffer, tunnelAuthority: { host: string; port: number; scheme: 'https' }): void
}

export interface ConnectDeps {
  pipeline: RequestPipeline
  runtime: () => Runtime
  records: RecordSink
  metrics: Metrics
  interceptor: () => TunnelInterceptor | null
}

function reply(socket: Duplex, status: number, statusText: string, body: Record<string, unknown>): void {
  const text = JSON.stringify(body)
  socket.end(`HTTP/1.1 ${status} ${statusText}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`)
}

export function handleConnect(deps: ConnectDeps, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const startedAt = process.hrtime.bigint()
  const rt = deps.runtime()
  socket.on('error', () => socket.destroy())
  const classified = classify({ via: 'connect', method: 'CONNECT', url: req.url ?? '', rawHeaders: req.rawHeaders }, { allowlist: rt.allowlist, newId: randomUUID, maxHeaderBytes: rt.config.limits.max_header_bytes })
  if (!classified.ok) {
    reply(socket, classified.status, 'Bad Request', { error: 'bad_request', reason: classified.reason, decision_id: classified.id })
    deps.records.write({ type: 'decision', id: classified.id, time: new Date().toISOString(), via: 'connect', decision: 'deny', stage: 'parse', reasons: [classified.reason], status: classified.status })
    deps.metrics.requests.inc({ tool: 'none', decision: 'deny', stage: 'parse' })
    return
  }
  const { call, tool } = classified
  const interceptor = deps.interceptor()
  const inspect = tool !== null && !tool.config.passthrough && interceptor !== null
  // An inspected tunnel is only opened here; its requests are decided one by one inside it, so
  // the tunnel itself needs the allowlist match alone. Passthrough tunnels are decided in full.
  let decision: Decision = deps.pipeline.decideCall(call, tool, null, rt)
  if (inspect && tool !== null) decision = { ...decision, allow: true, pass: true, stage: null, reasons: ['tunnel opened for inspection'], status: 200 }
  deps.metrics.decisionSeconds.observe({ decision: decisionLabel(decision) }, decision.decideSeconds)

  const record = (status: number, failure: { kind: string; reason: string } | null, d: Decision = decision): void => {
    deps.metrics.requests.inc({ tool: call.tool ?? 'none', decision: decisionLabel(d), stage: d.stage ?? '' })
    deps.records.write(decisionRecord({ call, decision: d, agent: rt.agent, credential: null, upstreamStatus: null, status, failure, upstreamSeconds: null, totalSeconds: Number(process.hrtime.bigint() - startedAt) / 1e9 }))
  }
  if (!decision.pass) {
    reply(socket, 403, 'Forbidden', { error: 'denied', reason: decision.reasons.join('; '), decision_id: call.id })
    record(403, null)
    return
  }
  if (inspect && interceptor !== null) {
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
    record(200, null)
    interceptor.intercept(socket, head, { host: call.target.host, port: call.target.port, scheme: 'https' })
    return
  }
  openTunnel(deps, rt, call, socket, head, (status, failure) => {
    if (failure?.kind === 'destination') {
      const denied: Decision = { ...decision, allow: false, pass: false, stage: 'destination', status: 403, reasons: [failure.reason] }
      record(403, failure, denied)
    } else record(status, failure)
  })
}

function openTunnel(deps: ConnectDeps, rt: Runtime, call: ToolCall, client: Duplex, head: Buffer, done: (status: number, failure: { kind: string; reason: string } | null) => void): void {
  const upstreamTool = rt.upstreams.get(call.tool ?? '')
  if (!upstreamTool) {
    reply(client, 403, 'Forbidden', { error: 'denied', reason: 'no tool', decision_id: call.id })
    done(403, null)
    return
  }
  const host = call.target.host
  if (call.target.hostIsIp) {
    const refused = checkDestination(host, upstreamTool.rules)
    if (refused !== null) {
      reply(client, 403, 'Forbidden', { error: 'denied', reason: refused, decision_id: call.id })
      done(403, { kind: 'destination', reason: refused })
      return
    }
  }
  const upstream: Socket = netConnect({ host, port: call.target.port, lookup: checkedLookup(upstreamTool.rules), timeout: rt.config.timeouts.connect_ms })
  let established = false
  upstream.once('timeout', () => {
    if (established) return
    upstream.destroy()
    reply(client, 504, 'Gateway Timeout', { error: 'timeout', reason: 'upstream connect timed out', decision_id: call.id })
    done(504, { kind: 'timeout', reason: 'upstream connect timed out' })
  })
  upstream.once('error', (err: Error & { code?: string }) => {
    if (established) { client.destroy(); return }
    const blocked = err.code === 'TOOLGATE_DESTINATION_BLOCKED'
    const status = blocked ? 403 : 502
    reply(client, status, blocked ? 'Forbidden' : 'Bad Gateway', { error: blocked ? 'denied' : 'upstream_error', reason: err.message, decision_id: call.id })
    done(status, { kind: blocked ? 'destination' : 'connect', reason: err.message })
  })
  upstream.once('connect', () => {
    established = true
    upstream.setTimeout(rt.config.timeouts.idle_ms)
    upstream.on('timeout', () => { upstream.destroy(); client.destroy() })
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
    if (head.length > 0) upstream.write(head)
    upstream.pipe(client)
    client.pipe(upstream)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    done(200, null)
  })
}
