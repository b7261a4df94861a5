// Admin listener (default 127.0.0.1:15000) and the optional metrics listener: read-only.
// /healthz (the process serves), /readyz (config loaded, policy bundle loaded, listeners bound;
// 503 with the reasons otherwise), /metrics (Prometheus text), and the JWKS mounted by its owner.
// Nothing here changes state, so it may bind the pod IP for scraping; tasks and approvals are on
// the control listener (admin/control-server.ts), which authenticates every call.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Metrics } from '../record/metrics.ts'
import type { Logger } from '../record/log.ts'

/** A mounted API: returns true when it handled the request. */
export type AdminRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>

export interface AdminOptions {
  metrics: Metrics
  logger: Logger
  readiness: () => { ready: boolean; reasons: string[]; restart_required?: string[] }
  routes: () => AdminRoute[]
}

export function send(res: ServerResponse, status: number, body: unknown, type = 'application/json'): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}

export function createAdminServer(opts: AdminOptions): Server {
  const server = createServer({ maxHeaderSize: 16384, headersTimeout: 10_000, requestTimeout: 30_000 })
  server.on('request', (req, res) => {
    handle(opts, req, res).catch((err: unknown) => {
      opts.logger.error('admin request failed', { error: (err as Error).message, path: req.url })
      if (!res.headersSent) send(res, 500, { error: 'internal_error' })
      else res.destroy()
    })
  })
  return server
}

/** Answers /healthz and /readyz (true), or leaves the request alone (false). Shared with the health listener. */
export function answerHealth(path: string, readiness: AdminOptions['readiness'], res: ServerResponse): boolean {
  if (path === '/healthz') {
    send(res, 200, { status: 'ok' })
    return true
  }
  if (path === '/readyz') {
    const r = readiness()
    // restart_required: config fields a reload changed that take effect only after a restart.
    send(res, r.ready ? 200 : 503, { ready: r.ready, reasons: r.reasons, restart_required: r.restart_required ?? [] })
    return true
  }
  return false
}

async function handle(opts: AdminOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://admin.local')
  if (answerHealth(url.pathname, opts.readiness, res)) return
  switch (url.pathname) {
    case '/metrics': {
      const text = await opts.metrics.registry.metrics()
      return send(res, 200, text, opts.metrics.registry.contentType)
    }
  }
  for (const route of opts.routes()) if (await route(req, res, url)) return
  send(res, 404, { error: 'not_found', reason: `no admin endpoint ${url.pathname}` })
}
