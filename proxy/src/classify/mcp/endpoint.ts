// One notion of "the MCP endpoint". Servers route more paths to their MCP handler than the one
// in the config: Express (the TypeScript SDK's examples) matches case-insensitively and ignores
// a trailing slash by default, servlet containers strip ";parameters", many frameworks mount a
// handler on a prefix (so "/mcp/anything" reaches it), and percent-escapes are decoded before
// routing. If toolgate inspected only the exact path, a tools/call POSTed to "/MCP" or "/mcp/"
// would be forwarded with its body unread. So every path that such a router could send to the
// endpoint is classified here: the exact configured path is the endpoint (inspected as MCP);
// every other member of its family is a variant, which the pipeline refuses.
//
// And what may be sent to the endpoint: POST carries messages; GET (the server's stream) and
// DELETE (end of session) only without a body; anything else, or a body where none belongs, is
// refused. A protocol upgrade is never MCP.

export type EndpointRelation = 'endpoint' | 'variant' | 'other'

/** The path as a lenient router compares it: decoded, case-folded, ";params" and empty segments dropped. */
export function looseEndpointKey(path: string): string {
  const segments: string[] = []
  for (const raw of path.split('/')) {
    let seg = raw
    try {
      seg = decodeURIComponent(raw)
    } catch {
      // An undecodable escape stays as written (the normaliser refuses most of them earlier).
    }
    seg = seg.split(';', 1)[0]!.toLowerCase().toUpperCase().toLowerCase()
    if (seg !== '') segments.push(seg)
  }
  return '/' + segments.join('/')
}

/** How a normalised request path relates to the configured endpoint path. */
export function endpointRelation(path: string, endpoint: string): EndpointRelation {
  if (path === endpoint) return 'endpoint'
  const key = looseEndpointKey(path)
  const base = looseEndpointKey(endpoint)
  if (key === base || key.startsWith(base === '/' ? '/' : base + '/')) return 'variant'
  return 'other'
}

export type EndpointMethodVerdict =
  | { ok: true; kind: 'messages' | 'stream' | 'end_session' }
  | { ok: false; status: 400 | 405; reason: string }

/** Whether a request to the exact endpoint path may go on, and as what. */
export function endpointMethod(method: string, hasBody: boolean, upgrade: boolean): EndpointMethodVerdict {
  if (upgrade) return { ok: false, status: 400, reason: 'protocol upgrade on the MCP endpoint' }
  switch (method) {
    case 'POST':
      return { ok: true, kind: 'messages' }
    case 'GET':
    case 'DELETE':
      if (hasBody) return { ok: false, status: 400, reason: `${method} with a body on the MCP endpoint (only POST carries messages)` }
      return { ok: true, kind: method === 'GET' ? 'stream' : 'end_session' }
    default:
      return { ok: false, status: 405, reason: `method ${JSON.stringify(method.slice(0, 20))} is not used on the MCP endpoint (POST, GET and DELETE only)` }
  }
}

/** A request carries a body unless it says none: no Transfer-Encoding and no (or a zero) Content-Length. */
export function requestHasBody(headers: { 'content-length'?: string | undefined; 'transfer-encoding'?: string | undefined }): boolean {
  if (headers['transfer-encoding'] !== undefined) return true
  const cl = headers['content-length']
  return cl !== undefined && cl.trim() !== '0'
}
