// What Node's HTTP parser rejected (a 'clientError'), as the status and reason of the refusal
// record and answer. Shared by every HTTP listener so a malformed request reads the same
// everywhere. The reason names the parser's error code only, never request bytes.

export function malformedRequest(err: Error & { code?: string }): { status: 400 | 408 | 431; reason: string } {
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  return { status, reason: `malformed request (${err.code ?? 'parse error'})` }
}
