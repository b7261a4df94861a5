// HOST:PORT flag values of the commands that open a listener (`run --health`, `inject --listen`),
// read by the same authority parser as requests (classify/request-target.ts). IPv6 hosts are
// bracketed (`[::]:15021`); the brackets are dropped for net.Server.listen.

import { parseAuthority } from '../classify/request-target.ts'

/** The address in `text`, or an Error naming `flag` and the expected form. */
export function parseListenAddress(flag: string, text: string): { host: string; port: number } | Error {
  const a = parseAuthority(text, flag, { allowPortZero: true })
  if (!a.ok || a.port === null) return new Error(`${flag}: expected HOST:PORT (e.g. 0.0.0.0:15021 or [::]:15021), got '${text}'${a.ok ? '' : ` (${a.reason})`}`)
  return { host: a.host, port: a.port }
}
