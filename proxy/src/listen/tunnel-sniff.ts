// The first bytes of an opened CONNECT tunnel decide what it carries. Node (NODE_USE_ENV_PROXY=1),
// undici and others tunnel plain http:// URLs through CONNECT too, so a tunnel is not always TLS:
//
//   0x16 0x03 ...      a TLS record (ClientHello)      → 'tls'
//   PRI<SP>            the HTTP/2 prior-knowledge preface (h2c)  → 'h2c'
//   <token><SP>        an HTTP/1 request line           → 'http'
//   anything else      neither                          → 'other'
//
// classifyFirstBytes() is a pure function of the bytes received so far: it answers 'incomplete'
// until the prefix decides, and once a prefix decides, every longer buffer decides the same way,
// so the answer never depends on how the client split its bytes into packets. At most
// MAX_METHOD_BYTES + 1 bytes are ever needed; readFirstBytes() bounds the wait with a timeout.

import type { Duplex } from 'node:stream'

export type FirstBytes =
  | { kind: 'tls' }
  | { kind: 'http'; method: string }
  | { kind: 'h2c' }
  | { kind: 'other'; reason: string }

/** Longest method token read before its space (the longest registered method is 16 bytes). */
export const MAX_METHOD_BYTES = 32

// RFC 9110 tchar.
const TCHAR = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1
for (let c = 0x30; c <= 0x39; c++) TCHAR[c] = 1
for (let c = 0x41; c <= 0x5a; c++) TCHAR[c] = 1
for (let c = 0x61; c <= 0x7a; c++) TCHAR[c] = 1

/** What the bytes read so far say the tunnel carries; null while they do not decide yet. */
export function classifyFirstBytes(buf: Uint8Array): FirstBytes | null {
  if (buf.length === 0) return null
  if (buf[0] === 0x16) {
    if (buf.length < 2) return null
    return buf[1] === 0x03 ? { kind: 'tls' } : { kind: 'other', reason: 'a TLS handshake record with an unknown version' }
  }
  const n = Math.min(buf.length, MAX_METHOD_BYTES + 1)
  for (let i = 0; i < n; i++) {
    const c = buf[i]!
    if (c === 0x20 && i > 0) {
      const method = Buffer.from(buf.subarray(0, i)).toString('latin1')
      return method === 'PRI' ? { kind: 'h2c' } : { kind: 'http', method }
    }
    if (TCHAR[c] !== 1) return { kind: 'other', reason: 'neither a TLS ClientHello nor an HTTP request line' }
  }
  if (buf.length > MAX_METHOD_BYTES) return { kind: 'other', reason: `no HTTP method within the first ${MAX_METHOD_BYTES} bytes` }
  return null
}

export type SniffResult =
  | { kind: 'decided'; first: FirstBytes; bytes: Buffer }
  /** No deciding bytes within the time allowed (a slow or silent client). */
  | { kind: 'timeout'; bytes: Buffer }
  /** The client ended or closed the tunnel before its first bytes decided. */
  | { kind: 'closed'; bytes: Buffer }

/**
 * Reads from `socket` (after `head`, bytes already read) until its first bytes decide, at most
 * `timeoutMs`. The socket is left paused with nothing consumed by anyone else: the bytes read are
 * returned and must be replayed (unshift, or the interceptor's head) by whoever takes it over.
 */
export function readFirstBytes(socket: Duplex, head: Buffer, timeoutMs: number): Promise<SniffResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = head.length > 0 ? [head] : []
    let size = head.length
    let done = false
    const bytes = (): Buffer => (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size))
    const finish = (r: SniffResult): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.off('data', onData)
      socket.off('end', onEnd)
      socket.off('close', onEnd)
      socket.pause()
      resolve(r)
    }
    const check = (): void => {
      // Only the first MAX_METHOD_BYTES + 1 bytes can decide: never concatenate more than that.
      const all = bytes()
      const first = classifyFirstBytes(all.subarray(0, MAX_METHOD_BYTES + 1))
      if (first !== null) finish({ kind: 'decided', first, bytes: all })
    }
    const onData = (d: Buffer): void => {
      chunks.push(d)
      size += d.length
      check()
    }
    const onEnd = (): void => finish({ kind: 'closed', bytes: bytes() })
    const timer = setTimeout(() => finish({ kind: 'timeout', bytes: bytes() }), timeoutMs)
    timer.unref()
    if (size > 0) check()
    if (done) return
    // Gone already (it closed right after its CONNECT): nothing will arrive.
    if (socket.destroyed || socket.readableEnded) return onEnd()
    socket.on('data', onData)
    socket.once('end', onEnd)
    socket.once('close', onEnd)
    socket.resume()
  })
}
