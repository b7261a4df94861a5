// What Node's HTTP parser rejected (a 'clientError'), as the status and reason of the refusal
// record and answer. Shared by every HTTP listener so a malformed request reads the same
// everywhere. The reason names the parser's error code only, never request bytes.

export function malformedRequest(err: Error & { code?: string }): { status: 400 | 408 | 431; reason: string } {
  // The HTTP/2 connection preface on an HTTP/1.1 listener: h2c prior knowledge is not served.
  if (err.code === 'HPE_PAUSED_H2_UPGRADE') return { status: 400, reason: 'HTTP/2 prior knowledge (h2c) is not accepted here: send HTTP/1.1, or HTTPS (HTTP/2 is offered inside TLS)' }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  return { status, reason: `malformed request (${err.code ?? 'parse error'})` }
}

const refused = new WeakSet<object>()

/**
 * True the first time a connection is refused as malformed. Node may report a parse error again
 * for bytes that arrive while the refusal is written (the rest of an h2c preface): one record per
 * connection, the later reports only close it.
 */
export function firstRefusal(socket: object): boolean {
  if (refused.has(socket)) return false
  refused.add(socket)
  return true
}
