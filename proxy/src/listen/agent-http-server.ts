// The one way toolgate makes an HTTP server that parses an agent's requests (the proxy listener,
// the transparent HTTP listener, and the inner servers that parse what arrives inside a TLS
// interception or a plain CONNECT tunnel), so every place an agent's bytes are framed frames them
// the same strict way and bounds the same things:
//
// - Node's strict parser, duplicate headers never joined (classify refuses what is ambiguous).
// - requireHostHeader off: Node would answer an HTTP/1.1 request without Host with a bare 400 that
//   no listener sees, so no record was written for it. classify refuses it instead (recorded, with
//   a reason), and inside a tunnel the tunnel's authority is the destination either way.
// - Header deadlines enforced: Node checks headersTimeout only on servers that emitted
//   'listening', and only every connectionsCheckingInterval (30 s by default). The inner servers
//   never listen (sockets are handed to them), so a client trickling header bytes inside a tunnel
//   was never cut; they start Node's own checker here, and every server checks once a second.
//   An expired request reaches the server's 'clientError' handler (ERR_HTTP_REQUEST_TIMEOUT → 408,
//   recorded by listen/malformed.ts).

import { createServer, type Server } from 'node:http'

/** How often open connections are checked against the header deadline (timeouts.client_headers_ms). */
export const HEADER_CHECK_INTERVAL_MS = 1000

/** An HTTP server for agent traffic; `inner` for one that is fed sockets and never listens. */
export function createAgentHttpServer(opts: { inner: boolean }): Server {
  const server = createServer({
    requestTimeout: 0, // bodies may stream for long; idle timeouts bound them instead
    joinDuplicateHeaders: false,
    insecureHTTPParser: false,
    requireHostHeader: false,
    connectionsCheckingInterval: HEADER_CHECK_INTERVAL_MS,
  })
  // Node starts its connection tracking and header-deadline checker on 'listening' (the timer is
  // unref'd, so it keeps nothing alive); a server that never listens starts it here instead.
  if (opts.inner) server.emit('listening')
  return server
}
