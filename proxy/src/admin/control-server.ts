// Control listener (default 127.0.0.1:15004): the task and approval API and nothing else. The
// agent shares the pod's network namespace, so whatever address this binds, the agent can reach
// it: every route authenticates its caller itself (admin/api-tasks.ts, admin/api-approvals.ts),
// and anything not routed is 404. Health, metrics and JWKS are on the read-only listeners.

import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from '../record/log.ts'
import { isPodAddress } from '../decide/destination.ts'
import { send, type AdminRoute } from './admin-server.ts'

/** Where a control connection comes from: inside the pod (possibly the agent) or elsewhere. */
export type ConnectionOrigin = 'pod' | 'remote'

/**
 * Open connections allowed per origin. One shared cap let the agent (any 127/8 source, so no
 * per-address limit helps) hold every slot with half-sent requests, so that its issuer could not
 * end its task and approvers could not answer. Callers from inside the pod share a small budget
 * of their own; orchestrators and approvers outside the pod keep theirs whatever the agent does.
 */
export const CONTROL_CONNECTIONS: Readonly<Record<ConnectionOrigin, number>> = { pod: 32, remote: 224 }

export function connectionOrigin(address: string | undefined): ConnectionOrigin {
  // No address (a socket already gone) counts against the pod's budget, the stricter one.
  return address === undefined || isPodAddress(address) ? 'pod' : 'remote'
}

export function createControlServer(opts: { logger: Logger; routes: () => AdminRoute[]; origin?: (address: string | undefined) => ConnectionOrigin }): Server {
  const server = createServer({ maxHeaderSize: 16384, headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 })
  server.maxRequestsPerSocket = 1000
  const originOf = opts.origin ?? connectionOrigin
  const open: Record<ConnectionOrigin, number> = { pod: 0, remote: 0 }
  server.on('connection', (socket: Socket) => {
    const origin = originOf(socket.remoteAddress)
    if (open[origin] >= CONTROL_CONNECTIONS[origin]) {
      socket.destroy()
      return
    }
    open[origin]++
    socket.once('close', () => { open[origin]-- })
  })
  server.on('request', (req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://control.local')
      for (const route of opts.routes()) if (await route(req, res, url)) return
      req.resume()
      send(res, 404, { error: 'not_found', reason: `no control endpoint ${url.pathname} (tasks: /v1/tasks, approvals: /v1/approvals)` })
    })().catch((err: unknown) => {
      opts.logger.error('control request failed', { error: (err as Error).message, path: req.url })
      if (!res.headersSent) send(res, 500, { error: 'internal_error' })
      else res.destroy()
    })
  })
  return server
}
