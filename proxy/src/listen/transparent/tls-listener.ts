// Listener for TLS redirected by iptables (tcp/443 → this port). The ClientHello is buffered (not
// consumed) until its SNI can be read; the connection is then decided on SNI:443 exactly like a
// CONNECT to that authority: an inspected tool's connection is terminated by the TLS interceptor
// (every request inside is decided again, and Host must agree with the SNI), a passthrough tool
// gets a TCP pipe to the SNI host resolved through the tool's destination check, and anything else
// is closed. No SNI means no destination (REDIRECT hides the original address): refused.

import { createServer, type Server, type Socket } from 'node:net'
import { randomUUID } from 'node:crypto'
import { classify } from '../../classify/request.ts'
import { parseRefusalRecord } from '../../record/decision-record.ts'
import { decideTunnel, pipeTunnel } from '../tunnel.ts'
import type { ToolCall } from '../../classify/toolcall.ts'
import type { TunnelDeps } from '../tunnel.ts'
import type { Logger } from '../../record/log.ts'
import type { TlsInterceptor } from '../tls/interceptor.ts'
import { MAX_CLIENT_HELLO_BYTES, parseClientHello } from './client-hello.ts'

export interface TransparentTlsOptions {
  /** The same dependencies the CONNECT handler uses: the decision is the same. */
  deps: TunnelDeps
  /** Read per connection: interception may be created after the listener starts. */
  interceptor: () => TlsInterceptor | null
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
  opts.deps.records.write(parseRefusalRecord({ id, via: 'transparent', agent: opts.deps.runtime().agent, reason, status: 400, startedAt: null }))
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
  const interceptor = opts.interceptor()
  const tunnel = decideTunnel(deps, rt, call, classified.tool, interceptor !== null, startedAt)
  if (!tunnel.decision.pass) {
    tunnel.record(403, null)
    socket.destroy()
    return
  }
  if (tunnel.inspect && interceptor !== null) {
    tunnel.record(200, null)
    interceptor.terminate(socket, hello, { host: call.target.host, port: TLS_PORT, scheme: 'https' }, 'transparent')
    return
  }
  // The ClientHello already read is the first thing the destination gets.
  pipeTunnel(rt, call, socket, hello, {
    established: () => tunnel.record(200, null),
    failed: (status, failure) => {
      socket.destroy()
      tunnel.record(status, failure)
    },
  })
}
