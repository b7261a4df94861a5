// HOST:PORT flag values of the commands that open a listener (`run --health`, `inject --listen`).
// IPv6 hosts are bracketed (`[::]:15021`); the brackets are dropped for net.Server.listen.

/** The address in `text`, or an Error naming `flag` and the expected form. */
export function parseListenAddress(flag: string, text: string): { host: string; port: number } | Error {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(text)
  const port = m ? Number(m[2]) : NaN
  if (!m || !(port >= 0 && port <= 65535)) return new Error(`${flag}: expected HOST:PORT (e.g. 0.0.0.0:15021 or [::]:15021), got '${text}'`)
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port }
}
