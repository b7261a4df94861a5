// A free loopback port for servers that cannot report the port they bound (nginx, opa).
// The port is released before the server binds it; the window is tiny and only loopback.
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo
      s.close(() => resolve(port))
    })
  })
}

/** Polls `url` until it answers `status` (default 200) or the deadline passes; returns ms waited. */
export async function waitForHttp(url: string, timeoutMs = 15_000, status = 200, everyMs = 2): Promise<number> {
  const start = performance.now()
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) })
      await res.arrayBuffer()
      if (res.status === status) return performance.now() - start
    } catch { /* not up yet */ }
    if (performance.now() - start > timeoutMs) throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}
