// Listener for plain HTTP redirected by iptables (tcp/80 → this port). Requests arrive in origin
// form; classify takes the destination from Host (via 'transparent'). REDIRECT hides the original
// destination address from Node (no SO_ORIGINAL_DST), so Host is the only source of the
// destination, and the original port is known to be 80: a Host naming another port disagrees
// with the connection and is refused rather than forwarded somewhere the client did not dial.

import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Logger } from '../../record/log.ts'
import { guardSocket } from '../socket-guard.ts'
import { parseAbsoluteTarget } from '../../classify/request-target.ts'

export interface TransparentRequestHandler {
  handle(req: IncomingMessage, res: ServerResponse, ctx: { via: 'transparent'; upgrade?: { socket: Duplex; head: Buffer } }): void
}

export interface TransparentHttpOptions {
  pipeline: TransparentRequestHandler
  logger: Logger
  maxHeaderBytes?: number
  headersTimeoutMs?: number
  keepAliveTimeoutMs?: number
  idleTimeoutMs?: number
  maxConnections?: number
}

/** The port a Host header names, or null when it names none; 'invalid' when unreadable. */
export function hostPort(host: string): number | null | 'invalid' {
  const m = /^(?:\[[^\]]*\]|[^:[\]]*)(?::(\d*))?$/.exec(host)
  if (!m) return 'invalid'
  if (m[1] === undefined) return null
  if (m[1] === '') return 'invalid'
  return Number(m[1])
}

function refuse(res: ServerResponse, status: number, reason: string): void {
  const body = JSON.stringify({ error: 'bad_request', reason })
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' })
  res.end(body)
}

export function createTransparentHttpListener(opts: TransparentHttpOptions): Server {
  const server = createServer({
    maxHeaderSize: opts.maxHeaderBytes ?? 32 * 1024,
    headersTimeout: opts.headersTimeoutMs ?? 30_000,
    requestTimeout: 0,
    keepAliveTimeout: opts.keepAliveTimeoutMs ?? 5_000,
    joinDuplicateHeaders: false,
    insecureHTTPParser: false,
  })
  server.maxConnections = opts.maxConnections ?? 1024
  server.on('connection', (socket: Socket) => {
    guardSocket(socket)
    socket.setTimeout(opts.idleTimeoutMs ?? 60_000, () => socket.destroy())
  })
  // Only the port (and, for an absolute-form target, the scheme) is checked here (a refusal can
  // only make things stricter); host and target are parsed and decided once, by classify. The
  // connection was plain HTTP to port 80, so that is all a request on it may name: an
  // absolute-form target naming https or another port is refused whether or not Host is sent.
  const portProblem = (req: IncomingMessage): string | null => {
    const url = req.url ?? ''
    if (!url.startsWith('/')) {
      const t = parseAbsoluteTarget(url)
      if (!t.ok) return t.reason
      if (t.scheme !== 'http') return `request target names ${t.scheme}, but the connection was redirected from plain HTTP on port 80`
      if (t.authority.port !== null && t.authority.port !== 80) return `request target names port ${t.authority.port}, but the connection was redirected from port 80`
    }
    const host = req.headers.host
    if (host === undefined) return null // classify refuses a missing Host (origin form) or takes the checked target's
    const p = hostPort(host)
    if (p === 'invalid') return 'Host header is not host[:port]'
    if (p !== null && p !== 80) return `Host names port ${p}, but the connection was redirected from port 80`
    return null
  }
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const problem = portProblem(req)
    if (problem !== null) { req.resume(); refuse(res, 400, problem); return }
    opts.pipeline.handle(req, res, { via: 'transparent' })
  })
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const res = new ServerResponse(req)
    res.assignSocket(socket as Socket)
    res.shouldKeepAlive = false
    const problem = portProblem(req)
    if (problem !== null) { refuse(res, 400, problem); return }
    opts.pipeline.handle(req, res, { via: 'transparent', upgrade: { socket, head } })
  })
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    const body = JSON.stringify({ error: 'bad_request', reason: 'CONNECT is not accepted on the transparent listener; use the proxy listener' })
    socket.end(`HTTP/1.1 405 Method Not Allowed\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
  })
  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    if (!socket.writable) { socket.destroy(); return }
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
    const body = JSON.stringify({ error: 'bad_request', reason: `malformed request (${err.code ?? 'parse error'})` })
    socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`)
  })
  return server
}
