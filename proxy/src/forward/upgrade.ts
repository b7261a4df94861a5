// Protocol upgrades (WebSocket) for routes that allow them, forwarded with http-proxy's `ws`,
// which handles the 101 handshake and the bidirectional byte pipe well. http-proxy copies the
// request it is given as it finds it, so it is never given the agent's request: it gets a
// request object carrying only the canonical target and headers toolgate decided on, plus the
// two upgrade headers, and an agent whose lookup applies the destination check.

import { Agent as HttpAgent, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent } from 'node:https'
import type { Duplex } from 'node:stream'
import type { SecureContext } from 'node:tls'
import httpProxy from 'http-proxy'
import { checkedLookup } from './lookup.ts'
import type { ToolUpstream } from './pools.ts'
import type { UpstreamRequest } from './forward.ts'
import { idleBound } from '../listen/socket-guard.ts'
import { connectFailure } from './upstream-errors.ts'
import type { Failure } from '../pipeline/failure.ts'

export interface UpgradeInput {
  tool: ToolUpstream
  request: UpstreamRequest
  /** The client's Upgrade header value (already validated to be websocket). */
  protocol: string
  client: { req: IncomingMessage; socket: Duplex; head: Buffer }
  connectTimeoutMs: number
  /** An upgraded connection silent this long both ways is closed (timeouts.idle_ms). */
  idleTimeoutMs?: number
  /** The shared TLS context of the tool's trust configuration (forward/pools.ts). */
  secureContext: SecureContext
}

export function forwardUpgrade(input: UpgradeInput): Promise<{ ok: true } | { ok: false; status: number; failure: Failure }> {
  const { req, socket, head } = input.client
  const https = input.request.origin.startsWith('https:')
  const agentOptions = { lookup: checkedLookup(input.tool.rules), timeout: input.connectTimeoutMs, keepAlive: false }
  const agent = https ? new HttpsAgent({ ...agentOptions, secureContext: input.secureContext, minVersion: 'TLSv1.2', rejectUnauthorized: true }) : new HttpAgent(agentOptions)
  const proxy = httpProxy.createProxyServer({ target: input.request.origin, agent, xfwd: false, secure: true, ws: true, prependPath: false })

  // The decided request, and nothing else of what the agent sent.
  const headers: Record<string, string> = {}
  for (const [name, value] of input.request.headers) headers[name.toLowerCase()] = value
  headers['connection'] = 'Upgrade'
  headers['upgrade'] = input.protocol
  req.headers = headers
  req.url = input.request.path

  return new Promise((resolve) => {
    let settled = false
    const done = (r: { ok: true } | { ok: false; status: number; failure: Failure }): void => {
      if (settled) return
      settled = true
      resolve(r)
    }
    proxy.once('open', (upstream: Duplex) => {
      // http-proxy clears both sockets' timeouts: bound them again, and tie their lives together,
      // so a client closed by shutdown (or gone) never leaves the upstream half open, and back.
      const idle = input.idleTimeoutMs ?? 60_000
      idleBound(socket, idle)
      idleBound(upstream, idle)
      socket.once('close', () => upstream.destroy())
      upstream.once('close', () => socket.destroy())
      // The client may have gone before the upstream answered: its 'close' has already fired.
      if (socket.destroyed) upstream.destroy()
      done({ ok: true })
    })
    proxy.once('close', () => { agent.destroy(); proxy.close() })
    proxy.ws(req, socket, head, {}, (err: Error & { code?: string }) => {
      agent.destroy()
      const failure = connectFailure(err)
      done({ ok: false, status: failure.kind === 'destination' ? 403 : failure.kind === 'upstream_connect_timeout' ? 504 : 502, failure })
    })
  })
}
