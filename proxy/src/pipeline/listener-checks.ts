// Checks a listener knows and the request cannot show: a transparently redirected HTTP connection
// came from port 80 (REDIRECT hides the original address, so Host is the only destination), and a
// Host naming another port disagrees with the connection. Run by the chain's classify stage, so
// `toolgate decide` (via transparent) refuses exactly what the listener refuses.

import { parseAuthority } from '../classify/request-target.ts'

/** Why the Host header disagrees with the redirected port, or null when it does not. */
export function redirectedPortProblem(host: string | undefined, port: number): string | null {
  if (host === undefined) return null // classify refuses a missing Host
  const a = parseAuthority(host, 'Host header')
  if (!a.ok) return null // classify refuses it with its own reason, the same one for every listener
  if (a.port !== null && a.port !== port) return `Host names port ${a.port}, but the connection was redirected from port ${port}`
  return null
}
