// The proxy listener (default 0.0.0.0:15001): absolute-form requests (forward proxy), /t/<tool>/
// route prefixes, CONNECT tunnels and upgrade requests all enter here and go through the same
// pipeline decision. Node's http server (llhttp, strict mode) parses the framing; header size,
// header timeout, keep-alive and connection limits are set from config.

import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import type { RequestPipeline } from '../pipeline/chain.ts'
import { writeSocketError } from '../pipeline/error-body.ts'
import { handleConnect } from './connect.ts'
import type { Runtime } from './runtime.ts'
import type { ResolvedConfig } from '../config/resolved.ts'
import type { Metrics } from '../record/metrics.ts'
import { firstRefusal, malformedRequest } from './malformed.ts'
import { applyHttpLimits } from './http-limits.ts'
import { guardSocket } from './socket-guard.ts'
import { createAgentHttpServer } from './agent-http-server.ts'
import { dispatchUpgrade } from './upgrade-request.ts'

export interface ListenerHandle {
  server: Server
  /** Resolves when every connection has closed or the bound has passed (then they are destroyed). */
  drain(graceMs: number): Promise<void>
  /** Applies a reloaded config's limits now (max_connections must change before the next accept). */
  applyLimits(config: ResolvedConfig): void
}

export function createProxyListener(opts: { pipeline: RequestPipeline; runtime: () => Runtime; metrics: Metrics; name: string }): ListenerHandle {
  const server = createAgentHttpServer({ inner: false })
  // Limits are read from the current config for every new connection (a reload applies them).
  applyHttpLimits(server, opts.runtime().config)
  const sockets = new Set<Socket>()
  const gauge = opts.metrics.openConnections.labels({ listener: opts.name })
  server.prependListener('connection', (socket: Socket) => {
    sockets.add(socket)
    guardSocket(socket)
    guardSocket(socket)
    gauge.inc()
    const cfg = applyHttpLimits(server, opts.runtime().config)
    socket.setTimeout(cfg.timeouts.idle_ms, () => socket.destroy())
    socket.once('close', () => {
      sockets.delete(socket)
      gauge.dec()
    })
  })
  server.on('request', (req, res) => {
    const url = req.url ?? ''
    opts.pipeline.handle(req, res, { via: url.startsWith('/') ? 'route' : 'forward' })
  })
  server.on('connect', (req, socket, head) => handleConnect(opts.pipeline, req, socket, head))
  server.on('upgrade', (req, socket, head) => {
    // Decided like any request (a route must say upgrade: true); an h2c offer is dropped (upgrade-request.ts).
    const url = req.url ?? ''
    dispatchUpgrade(opts.pipeline, req, socket, head, { via: url.startsWith('/') ? 'route' as const : 'forward' as const })
  })
  server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
    // Recorded like every refusal; the answer goes out only while the socket can still take it.
    if (!firstRefusal(socket)) { socket.destroy(); return }
    const { status, reason } = malformedRequest(err)
    const id = opts.pipeline.refuseUnread('forward', status, reason)
    writeSocketError(socket, status, { code: 'bad_request', reason, decisionId: id })
  })

  return {
    server,
    applyLimits: (config) => { applyHttpLimits(server, config) },
    drain: (graceMs) => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeIdleConnections()
      const timer = setTimeout(() => {
        for (const s of sockets) s.destroy()
        resolve()
      }, graceMs)
      timer.unref()
    }),
  }
}
