// Control listener (default 127.0.0.1:15004): the task and approval API and nothing else. The
// agent shares the pod's network namespace, so whatever address this binds, the agent can reach
// it: every route authenticates its caller itself (admin/api-tasks.ts, admin/api-approvals.ts),
// and anything not routed is 404. Health, metrics and JWKS are on the read-only listeners.

import { createServer, type Server } from 'node:http'
import type { Logger } from '../record/log.ts'
import { send, type AdminRoute } from './admin-server.ts'

export function createControlServer(opts: { logger: Logger; routes: () => AdminRoute[] }): Server {
  const server = createServer({ maxHeaderSize: 16384, headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 })
  server.maxRequestsPerSocket = 1000
  // Reachable by the agent: bounded like everything it can reach.
  server.maxConnections = 256
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
