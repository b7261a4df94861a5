// Health listener (off unless `toolgate run --health HOST:PORT`): /healthz and /readyz only, as
// on the admin listener, for kubelet httpGet probes. It may listen on the pod IP because it tells
// nothing but "alive" and "ready (or why not)". Everything else is 404, with small limits: it is
// reachable from the network.

import { createServer, type Server } from 'node:http'
import { answerHealth, send, type AdminOptions } from './admin-server.ts'

export function createHealthServer(readiness: AdminOptions['readiness']): Server {
  const server = createServer({ maxHeaderSize: 4096, headersTimeout: 5_000, requestTimeout: 5_000, keepAliveTimeout: 5_000 })
  server.maxRequestsPerSocket = 100
  server.on('request', (req, res) => {
    // Probes send no body; anything that does is not a probe.
    req.resume()
    const path = (req.url ?? '/').split('?')[0]!
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'method_not_allowed' })
    if (!answerHealth(path, readiness, res)) send(res, 404, { error: 'not_found', reason: 'the health listener serves /healthz and /readyz only' })
  })
  return server
}
