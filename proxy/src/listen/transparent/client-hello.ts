// A small, strict reader of a TLS ClientHello (RFC 8446 4.1.2, RFC 5246 7.4.1.2) that extracts the
// SNI host name (RFC 6066 section 3) and the ALPN list (RFC 7301). It reads bytes the transparent
// listener has buffered and replays afterwards: nothing is consumed. Anything malformed, truncated
// beyond the bounds or ambiguous (two host names, repeated extensions, trailing bytes) is an error,
// never a guess: a redirected connection whose destination cannot be read is refused.

import { canonicalHost } from '../../classify/target.ts'

export type ClientHelloResult =
  | { kind: 'incomplete' } // more bytes are needed
  | { kind: 'error'; reason: string }
  | { kind: 'ok'; sni: string | null; alpn: string[]; bytes: number }

/** Largest ClientHello handshake message accepted (post-quantum key shares keep it well under). */
export const MAX_CLIENT_HELLO_BYTES = 16 * 1024
const RECORD_HEADER = 5
const MAX_RECORD_PAYLOAD = 16 * 1024 + 256 // TLSPlaintext.length limit plus slack (RFC 8446 5.1)


/** Reads the ClientHello at the start of `buf` (possibly split across several handshake records). */
export function parseClientHello(buf: Buffer): ClientHelloResult {
  // Reassemble the handshake message from consecutive handshake records.
  const parts: Buffer[] = []
  let have = 0
  let offset = 0
  let need = -1 // total handshake bytes (4-byte header + body), once known
  while (need < 0 || have < need) {
    if (buf.length < offset + RECORD_HEADER) return { kind: 'incomplete' }
    const type = buf[offset]!
    if (type !== 0x16) return { kind: 'error', reason: offset === 0 ? 'not a TLS handshake (the first byte is not a handshake record)' : 'ClientHello interrupted by a non-handshake record' }
    if (buf[offset + 1] !== 0x03 || buf[offset + 2]! > 0x04) return { kind: 'error', reason: 'unsupported TLS record version' }
    const len = buf.readUInt16BE(offset + 3)
    if (len === 0 || len > MAX_RECORD_PAYLOAD) return { kind: 'error', reason: 'invalid TLS record length' }
    if (buf.length < offset + RECORD_HEADER + len) return { kind: 'incomplete' }
    parts.push(buf.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + len))
    have += len
    offset += RECORD_HEADER + len
    if (need < 0 && have >= 4) {
      const hs = Buffer.concat(parts)
      if (hs[0] !== 0x01) return { kind: 'error', reason: 'first handshake message is not a ClientHello' }
      const bodyLen = hs.readUIntBE(1, 3)
      if (bodyLen > MAX_CLIENT_HELLO_BYTES) return { kind: 'error', reason: 'ClientHello too large' }
      need = 4 + bodyLen
    }
  }
  const hs = Buffer.concat(parts)
  // Bytes of another handshake message after the ClientHello in the same flight are not allowed.
  if (hs.length !== need) return { kind: 'error', reason: 'unexpected bytes after the ClientHello' }
  const parsed = parseBody(hs.subarray(4))
  return parsed.kind === 'ok' ? { ...parsed, bytes: offset } : parsed
}

class Reader {
  private pos = 0
  private readonly b: Buffer
  constructor(b: Buffer) { this.b = b }
  get left(): number { return this.b.length - this.pos }
  u8(): number { this.need(1); return this.b[this.pos++]! }
  u16(): number { this.need(2); const v = this.b.readUInt16BE(this.pos); this.pos += 2; return v }
  bytes(n: number): Buffer { this.need(n); const v = this.b.subarray(this.pos, this.pos + n); this.pos += n; return v }
  private need(n: number): void { if (this.left < n) throw new HelloError('truncated ClientHello') }
}

class HelloError extends Error {}

function parseBody(body: Buffer): ClientHelloResult {
  try {
    const r = new Reader(body)
    const major = r.u8()
    r.u8()
    if (major !== 3) throw new HelloError('unsupported ClientHello version')
    r.bytes(32) // random
    const sessionIdLen = r.u8()
    if (sessionIdLen > 32) throw new HelloError('session id too long')
    r.bytes(sessionIdLen)
    const suitesLen = r.u16()
    if (suitesLen < 2 || suitesLen % 2 !== 0) throw new HelloError('invalid cipher suite list')
    r.bytes(suitesLen)
    const compLen = r.u8()
    if (compLen < 1) throw new HelloError('invalid compression method list')
    r.bytes(compLen)
    if (r.left === 0) return { kind: 'ok', sni: null, alpn: [], bytes: 0 } // no extensions at all
    const extLen = r.u16()
    if (extLen !== r.left) throw new HelloError('extensions length does not match the ClientHello length')
    const seen = new Set<number>()
    let sni: string | null = null
    let alpn: string[] = []
    while (r.left > 0) {
      const type = r.u16()
      const data = r.bytes(r.u16())
      if (seen.has(type)) throw new HelloError(`extension ${type} appears twice`)
      seen.add(type)
      if (type === 0) sni = parseServerName(data)
      else if (type === 16) alpn = parseAlpn(data)
    }
    return { kind: 'ok', sni, alpn, bytes: 0 }
  } catch (err) {
    if (err instanceof HelloError) return { kind: 'error', reason: err.message }
    throw err
  }
}

function parseServerName(data: Buffer): string | null {
  const r = new Reader(data)
  const listLen = r.u16()
  if (listLen !== r.left || listLen === 0) throw new HelloError('invalid server_name list')
  let host: string | null = null
  while (r.left > 0) {
    const nameType = r.u8()
    const name = r.bytes(r.u16())
    if (nameType !== 0) continue // unknown name types are skipped (RFC 6066)
    if (host !== null) throw new HelloError('more than one SNI host name')
    host = validHostName(name)
  }
  return host
}

/** RFC 6066: an ASCII DNS host name, no trailing dot, never an IP literal. Returned in lower case. */
function validHostName(raw: Buffer): string {
  if (raw.length === 0 || raw.length > 253) throw new HelloError('invalid SNI host name length')
  for (const c of raw) if (c < 0x21 || c > 0x7e) throw new HelloError('SNI host name is not printable ASCII')
  const name = raw.toString('latin1').toLowerCase()
  // The same host rule as every other host toolgate reads (classify/target.ts), and nothing it
  // would rewrite: an SNI must already be in canonical form (no trailing dot, ASCII labels).
  const canonical = canonicalHost(name)
  if (!canonical.ok || canonical.host !== name) throw new HelloError('SNI is not a valid DNS host name')
  if (canonical.isIp) throw new HelloError('SNI must not be an IP address')
  return name
}

function parseAlpn(data: Buffer): string[] {
  const r = new Reader(data)
  const listLen = r.u16()
  if (listLen !== r.left || listLen < 2) throw new HelloError('invalid ALPN list')
  const out: string[] = []
  while (r.left > 0) {
    const len = r.u8()
    if (len === 0) throw new HelloError('empty ALPN protocol name')
    out.push(r.bytes(len).toString('latin1'))
  }
  return out
}
