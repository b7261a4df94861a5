// Listener for TLS redirected by iptables (tcp/443 → this port). The ClientHello is buffered (not
// consumed) until its SNI can be read; the connection is then decided on SNI:443 exactly like a
// CONNECT to that authority: an inspected tool's connection is terminated by the TLS interceptor
// (every request inside is decided again, and Host must agree with the SNI), a passthrough tool
// gets a TCP pipe to the SNI host resolved through the tool's destination check, and anything else
// is closed. No SNI means no destination (REDIRECT hides the original address): refused.

import { createServer, connect as netConnect, type Server, type Socket } from 'node:net'
import { randomUUID } from 'node:crypto'
import { classify } from '../../classify/request.ts'
import { checkedLookup } from '../../forward/lookup.ts'
import { decisionLabel, decisionRecord } from '../../record/decision-record.ts'
import type { Decision } from '../../decide/decision.ts'
import type { ToolCall } from '../../classify/toolcall.ts'
import type { ConnectDeps } from '../connect.ts'
import type { Logger } from '../../record/log.ts'
import type { TlsInterceptor } from '../tls/interceptor.ts'
import { MAX_CLIENT_HELLO_BYTES, parseClientHello } from './client-hello.ts'

export interface TransparentTlsOptions {
  /** The same dependencies the CONNECT handler uses: the decision is the same. */
  deps: Omit<ConnectDeps, 'interceptor'>
  interceptor: TlsInterceptor | null
  logger: Logger
  /** Time allowed to receive the ClientHello (default 10 s). */
  helloTimeoutMs?: number
  maxConnections?: number
}

const TLS_PORT = 443

export function createTransparentTlsListener(opts: TransparentTlsOptions): Server {
  const server = createServer({ pauseOnConnect: false, allowHalfOpen: false })
  server.maxConnections = opts.maxConnections ?? 1024
  server.on('connection', (socket: Socket) => {
    socket.on('error', () => socket.destroy())
    const chunks: Buffer[] = []
    let size = 0
    const timer = setTimeout(() => {
      refuseEarly(opts, socket, 'no complete ClientHello in time')
    }, opts.helloTimeoutMs ?? 10_000)
    timer.unref()
    const onData = (d: Buffer): void => {
      chunks.push(d)
      size += d.length
      const buffered = Buffer.concat(chunks)
      const hello = parseClientHello(buffered)
      if (hello.kind === 'incomplete') {
        if (size > MAX_CLIENT_HELLO_BYTES + 1024) { stop(); refuseEarly(opts, socket, 'ClientHello too large') }
        return
      }
      stop()
      if (hello.kind === 'error') { refuseEarly(opts, socket, `not a readable TLS ClientHello: ${hello.reason}`); return }
      if (hello.sni === null) { refuseEarly(opts, socket, 'TLS without SNI: the destination cannot be known'); return }
      decideAndRoute(opts, socket, buffered, hello.sni)
    }
    const stop = (): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      socket.pause()
    }
    socket.on('data', onData)
    socket.once('close', () => clearTimeout(timer))
  })
  return server
}

function refuseEarly(opts: TransparentTlsOptions, socket: Socket, reason: string): void {
  const id = randomUUID()
  opts.deps.records.write({ type: 'decision', id, time: new Date().toISOString(), via: 'transparent', decision: 'deny', stage: 'parse', reasons: [reason], status: 400 })
  opts.deps.metrics.requests.inc({ tool: 'none', decision: 'deny', stage: 'parse' })
  opts.logger.info('transparent TLS connection refused', { reason, decision_id: id })
  socket.destroy()
}

function decideAndRoute(opts: TransparentTlsOptions, socket: Socket, hello: Buffer, sni: string): void {
  const startedAt = process.hrtime.bigint()
  const { deps } = opts
  const rt = deps.runtime()
  // Decided exactly as a CONNECT to sni:443 (the same classify and decide), recorded as transparent.
  const classified = classify({ via: 'connect', method: 'CONNECT', url: `${sni}:${TLS_PORT}`, rawHeaders: [] }, { allowlist: rt.allowlist, newId: randomUUID, maxHeaderBytes: rt.config.limits.max_header_bytes })
  if (!classified.ok) { refuseEarly(opts, socket, classified.reason); return }
  const call: ToolCall = { ...classified.call, via: 'transparent' }
  const tool = classified.tool
  const inspect = tool !== null && !tool.config.passthrough && opts.interceptor !== null
  let decision: Decision = deps.pipeline.decideCall(call, tool, null, rt)
  if (inspect) decision = { ...decision, allow: true, pass: true, stage: null, reasons: ['connection opened for inspection'], status: 200 }
  deps.metrics.decisionSeconds.observe({ decision: decisionLabel(decision) }, decision.decideSeconds)
  const record = (status: number, failure: { kind: string; reason: string } | null, d: Decision = decision): void => {
    deps.metrics.requests.inc({ tool: call.tool ?? 'none', decision: decisionLabel(d), stage: d.stage ?? '' })
    deps.records.write(decisionRecord({ call, decision: d, agent: rt.agent, credential: null, upstreamStatus: null, status, failure, upstreamSeconds: null, totalSeconds: Number(process.hrtime.bigint() - startedAt) / 1e9 }))
  }
  if (!decision.pass) {
    record(403, null)
    socket.destroy()
    return
  }
  if (inspect && opts.interceptor) {
    record(200, null)
    opts.interceptor.terminate(socket, hello, { host: call.target.host, port: TLS_PORT, scheme: 'https' }, 'transparent')
    return
  }
  const upstreamTool = rt.upstreams.get(call.tool ?? '')
  if (!upstreamTool) { record(403, null); socket.destroy(); return }
  const upstream = netConnect({ host: call.target.host, port: TLS_PORT, lookup: checkedLookup(upstreamTool.rules), timeout: rt.config.timeouts.connect_ms })
  let established = false
  upstream.once('timeout', () => {
    if (established) return
    upstream.destroy()
    socket.destroy()
    record(504, { kind: 'timeout', reason: 'upstream connect timed out' })
  })
  upstream.once('error', (err: Error & { code?: string }) => {
    socket.destroy()
    if (established) return
    const blocked = err.code === 'TOOLGATE_DESTINATION_BLOCKED'
    if (blocked) record(403, { kind: 'destination', reason: err.message }, { ...decision, allow: false, pass: false, stage: 'destination', status: 403, reasons: [err.message] })
    else record(502, { kind: 'connect', reason: err.message })
  })
  upstream.once('connect', () => {
    established = true
    upstream.setTimeout(rt.config.timeouts.idle_ms, () => { upstream.destroy(); socket.destroy() })
    upstream.write(hello)
    upstream.pipe(socket)
    socket.pipe(upstream)
    socket.resume()
    socket.on('close', () => upstream.destroy())
    upstream.on('close', () => socket.destroy())
    record(200, null)
  })
}
