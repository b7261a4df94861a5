// Checks a listener knows and the request cannot show: a transparently redirected HTTP connection
// came from plain HTTP on port 80 (REDIRECT hides the original address, so the request is the
// only destination), and a request naming https or another port, in its target or in Host,
// disagrees with the connection. Run by the chain's classify stage, so `toolgate decide` (via
// transparent) refuses exactly what the listener refuses. Host and target are read by the one
// authority parser; anything unreadable is left to classify, which refuses it with its reason.

import { parseAbsoluteTarget, parseAuthority } from '../classify/request-target.ts'

/** Why the request disagrees with the redirected plain-HTTP port, or null when it does not. */
export function redirectedPortProblem(url: string, host: string | undefined, port: number): string | null {
  if (!url.startsWith('/')) {
    const t = parseAbsoluteTarget(url)
    if (!t.ok) return t.reason
    if (t.scheme !== 'http') return `request target names ${t.scheme}, but the connection was redirected from plain HTTP on port ${port}`
    if (t.authority.port !== null && t.authority.port !== port) return `request target names port ${t.authority.port}, but the connection was redirected from port ${port}`
  }
  if (host === undefined) return null // classify refuses a missing Host (origin form) or takes the checked target's
  const a = parseAuthority(host, 'Host header')
  if (!a.ok) return null
  if (a.port !== null && a.port !== port) return `Host names port ${a.port}, but the connection was redirected from port ${port}`
  return null
}
