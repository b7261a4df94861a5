// The HTTP server limits of a listener (header size and time, keep-alive, connection count),
// taken from the config in force when a connection arrives rather than the one at start, so a
// reload applies them to every new connection (connections already open keep theirs). Node reads
// maxHeaderSize, headersTimeout and keepAliveTimeout from the server object per connection, and
// the listener calls this before Node's own connection handler (prependListener).

import type { Server } from 'node:http'
import type { ResolvedConfig } from '../config/resolved.ts'

export function applyHttpLimits(server: Server, config: ResolvedConfig): ResolvedConfig {
  // Not in Node's type definitions, but read by the server for every new connection's parser.
  ;(server as Server & { maxHeaderSize: number }).maxHeaderSize = config.limits.max_header_bytes
  server.headersTimeout = config.timeouts.client_headers_ms
  server.keepAliveTimeout = config.timeouts.keep_alive_ms
  server.maxConnections = config.limits.max_connections
  return config
}
