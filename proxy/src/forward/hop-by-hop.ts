// Hop-by-hop headers (RFC 9110 7.6.1) apply to one connection and are never forwarded, in either
// direction, together with every header the Connection header names.

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

export function isHopByHop(name: string): boolean {
  return HOP_BY_HOP.has(name)
}

/** Names listed in Connection header values (lower-cased). */
export function connectionListed(values: readonly string[]): Set<string> {
  const listed = new Set<string>()
  for (const v of values) for (const token of v.split(',')) {
    const t = token.trim().toLowerCase()
    if (t) listed.add(t)
  }
  return listed
}
