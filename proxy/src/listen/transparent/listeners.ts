// Starts the transparent listeners the config enables (listeners.transparent_http and
// listeners.transparent_tls; both off by default) and returns their addresses and a close().

import type { Server } from 'node:http'
import type { AddressInfo, Server as NetServer, Socket } from 'node:net'
import { once } from 'node:events'
import type { ResolvedConfig } from '../../config/resolved.ts'
import { applyHttpLimits } from '../http-limits.ts'
import type { Logger } from '../../record/log.ts'
import { createTransparentHttpListener, type TransparentRequestHandler } from './http-listener.ts'
import { createTransparentTlsListener, type TransparentTunnelHandler } from './tls-listener.ts'

export interface TransparentListeners {
  http: AddressInfo | null
  tls: AddressInfo | null
  close(graceMs: number): Promise<void>
  /** Applies a reloaded config's limits now (new connections read them too). */
  applyLimits(config: ResolvedConfig): void
}

async function bind(server: NetServer, host: string, port: number): Promise<AddressInfo> {
  server.listen(port, host)
  await once(server, 'listening')
  return server.address() as AddressInfo
}

/** Tracks sockets so close() can end them after the grace period. */
function track(server: NetServer): Set<Socket> {
  const sockets = new Set<Socket>()
  server.on('connection', (s: Socket) => { sockets.add(s); s.once('close', () => sockets.delete(s)) })
  return sockets
}

export async function startTransparentListeners(opts: {
  config: ResolvedConfig
  /** The config in force (limits are read from it per connection). */
  current: () => ResolvedConfig
  pipeline: TransparentRequestHandler & TransparentTunnelHandler
  /** Whether TLS interception exists (it may be created after the listeners start). */
  intercepting: () => boolean
  logger: Logger
}): Promise<TransparentListeners> {
  const { config } = opts
  const l = config.listeners
  const servers: Array<{ server: NetServer; sockets: Set<Socket> }> = []
  let http: AddressInfo | null = null
  let tls: AddressInfo | null = null
  if (l.transparent_http) {
    const server: Server = createTransparentHttpListener({ pipeline: opts.pipeline, logger: opts.logger, config: opts.current })
    servers.push({ server, sockets: track(server) })
    http = await bind(server, l.transparent_http.host, l.transparent_http.port)
  }
  if (l.transparent_tls) {
    if (!opts.intercepting()) opts.logger.warn('transparent TLS listener without TLS interception: only passthrough tools can be reached')
    const server = createTransparentTlsListener({ pipeline: opts.pipeline, logger: opts.logger, helloTimeoutMs: () => opts.current().timeouts.client_headers_ms, maxConnections: () => opts.current().limits.max_connections })
    servers.push({ server, sockets: track(server) })
    tls = await bind(server, l.transparent_tls.host, l.transparent_tls.port)
  }
  return {
    http,
    tls,
    applyLimits: (next) => {
      for (const { server } of servers) {
        if ('closeIdleConnections' in server) applyHttpLimits(server as Server, next)
        else server.maxConnections = next.limits.max_connections
      }
    },
    close: async (graceMs) => {
      await Promise.all(servers.map(({ server, sockets }) => new Promise<void>((resolve) => {
        server.close(() => resolve())
        if ('closeIdleConnections' in server) (server as Server).closeIdleConnections()
        const timer = setTimeout(() => { for (const s of sockets) s.destroy(); resolve() }, graceMs)
        timer.unref()
      })))
    },
  }
}
