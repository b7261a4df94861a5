// CONNECT handling: the tunnel is decided on its target (host and port) like any call. A
// passthrough tool gets a plain TCP tunnel to the checked destination address; an inspected
// tool's tunnel is handed to the TLS interceptor, which decides every request inside it again
// (and is refused when there is no interceptor). The shared part lives in tunnel.ts.

import type { Duplex } from 'node:stream'
import type { IncomingMessage } from 'node:http'
import { randomUUID } from 'node:crypto'
import { classify } from '../classify/request.ts'
import { parseRefusalRecord } from '../record/decision-record.ts'
import { decideTunnel, pipeTunnel, type TunnelDeps } from './tunnel.ts'

export interface TunnelInterceptor {
  intercept(socket: Duplex, head: Buffer, tunnelAuthority: { host: string; port: number; scheme: 'https' }): void
}

export interface ConnectDeps extends TunnelDeps {
  interceptor: () => TunnelInterceptor | null
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 502: 'Bad Gateway', 504: 'Gateway Timeout' }

function reply(socket: Duplex, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body)
  socket.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`)
}

export function handleConnect(deps: ConnectDeps, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  const startedAt = process.hrtime.bigint()
  const rt = deps.runtime()
  socket.on('error', () => socket.destroy())
  const classified = classify({ via: 'connect', method: 'CONNECT', url: req.url ?? '', rawHeaders: req.rawHeaders }, { allowlist: rt.allowlist, newId: randomUUID, maxHeaderBytes: rt.config.limits.max_header_bytes })
  if (!classified.ok) {
    reply(socket, classified.status, { error: 'bad_request', reason: classified.reason, decision_id: classified.id })
    deps.records.write(parseRefusalRecord({ id: classified.id, via: 'connect', agent: rt.agent, reason: classified.reason, status: classified.status, startedAt }))
    deps.metrics.requests.inc({ tool: 'none', decision: 'deny', stage: 'parse' })
    return
  }
  const { call, tool } = classified
  const interceptor = deps.interceptor()
  const tunnel = decideTunnel(deps, rt, call, tool, interceptor !== null, startedAt)
  if (!tunnel.decision.pass) {
    reply(socket, 403, { error: 'denied', reason: tunnel.decision.reasons.join('; '), decision_id: call.id })
    tunnel.record(403, null)
    return
  }
  if (tunnel.inspect && interceptor !== null) {
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
    tunnel.record(200, null)
    interceptor.intercept(socket, head, { host: call.target.host, port: call.target.port, scheme: 'https' })
    return
  }
  pipeTunnel(rt, call, socket, head, {
    established: () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      tunnel.record(200, null)
    },
    failed: (status, failure) => {
      const denied = status === 403
      reply(socket, status, { error: denied ? 'denied' : failure.kind === 'timeout' ? 'timeout' : 'upstream_error', reason: failure.reason, decision_id: call.id })
      tunnel.record(status, failure)
    },
  })
}
