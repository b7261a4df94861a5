// Reflection guard: the credential toolgate injected must never come back to the agent. Upstreams
// echo requests (httpbin /headers and /anything, debug and error pages) or put the token into
// Set-Cookie, WWW-Authenticate, Location or custom headers; "the agent never holds secrets" holds
// only if every response of a call that carried a credential is checked on its way back.
//
// What is matched: the injected header value, each whitespace-separated part of it long enough to
// be a secret (the token after "Bearer"), and for Basic the decoded user:password and password;
// each as is, URL-encoded (upper- and lower-case hex, "+" for space), base64 and base64url at all
// three byte alignments (so the secret is found inside a longer encoded text too) and JSON-escaped
// ("\/"). Where: every response header value, and the body after removing its content-coding
// (gzip, deflate, br, zstd; a coding toolgate cannot undo is refused, fail closed), across chunk
// boundaries. Streaming keeps streaming: only a chunk's tail that could be the start of a secret is
// held back until the next chunk (or the end) decides it.
//
// On a match: 'redact' (default) overwrites each occurrence ('*' of the same length in bodies, so
// the framing holds; "[redacted]" in headers); 'block' answers 502 instead, or cuts a response
// whose headers are already sent. Either way the call's record says credential_reflected and
// toolgate_credential_reflections_total counts it. See docs/proxy.md.

import { Duplex, Transform, type TransformCallback } from 'node:stream'
import * as zlib from 'node:zlib'
import { createBrotliDecompress, createGunzip, createInflate, createInflateRaw } from 'node:zlib'

export type ReflectionAction = 'redact' | 'block'
export type ReflectionPlace = 'header' | 'body'

/** Parts shorter than this are not matched on their own (they would match ordinary text). */
const MIN_SECRET_LENGTH = 8
const HEADER_REDACTION = '[redacted]'
const REDACT_BYTE = 0x2a // '*'

/** Raised inside the response chain in block mode; forward/ maps it to failure kind credential_reflected. */
export class ReflectionError extends Error {
  readonly code = 'TOOLGATE_CREDENTIAL_REFLECTED'
  constructor(place: ReflectionPlace) {
    super(`the upstream response carried the injected credential back (${place}); response ${place === 'header' ? 'refused' : 'cut'}`)
  }
}

/** The strings that count as the secret, from the injected header value. */
export function secretsOf(value: string): string[] {
  const out = new Set<string>([value])
  const parts = value.split(/\s+/).filter((p) => p.length >= MIN_SECRET_LENGTH)
  for (const p of parts) out.add(p)
  const basic = /^basic\s+([A-Za-z0-9+/=_-]+)$/i.exec(value.trim())
  if (basic) {
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8')
    if (decoded.length >= MIN_SECRET_LENGTH) out.add(decoded)
    const password = decoded.slice(decoded.indexOf(':') + 1)
    if (decoded.includes(':') && password.length >= MIN_SECRET_LENGTH) out.add(password)
  }
  return [...out].filter((s) => s.length >= MIN_SECRET_LENGTH)
}

/** Base64 of `secret` as it appears inside any longer base64 text: the characters determined by its bytes alone, at each of the three alignments. */
function base64Inner(secret: Buffer): string[] {
  const out: string[] = []
  for (let k = 0; k < 3; k++) {
    const enc = Buffer.concat([Buffer.alloc(k), secret, Buffer.alloc(3)]).toString('base64')
    const first = Math.ceil((8 * k) / 6)
    const end = Math.floor((8 * (k + secret.length)) / 6)
    if (end - first >= MIN_SECRET_LENGTH) out.push(enc.slice(first, end))
  }
  return out
}

/** Every encoded form of the secrets that is matched, as bytes. */
export function needlesOf(secrets: readonly string[]): Buffer[] {
  const forms = new Set<string>()
  for (const s of secrets) {
    forms.add(s)
    const url = encodeURIComponent(s)
    forms.add(url)
    forms.add(url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()))
    forms.add(url.replace(/%20/g, '+'))
    forms.add(s.replace(/\//g, '\\/'))
    for (const b of base64Inner(Buffer.from(s, 'utf8'))) {
      forms.add(b)
      forms.add(b.replace(/\+/g, '-').replace(/\//g, '_'))
    }
  }
  return [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH).map((f) => Buffer.from(f, 'utf8'))
}

export interface ReflectionGuard {
  readonly action: ReflectionAction
  /** Checks (and in redact mode rewrites) response headers in place; 'block' when the response must be refused. */
  headers(headers: Record<string, string | string[]>): 'ok' | 'redacted' | 'block'
  /** A transform that scans (and redacts or cuts) the decoded body; onMatch runs once per occurrence. */
  body(): Transform
  /** Where the credential was found so far in this response (for the record). */
  readonly found: ReadonlySet<ReflectionPlace>
}

export function reflectionGuard(injectedValue: string, action: ReflectionAction, onMatch: (place: ReflectionPlace) => void = () => {}): ReflectionGuard {
  const needles = needlesOf(secretsOf(injectedValue))
  const texts = needles.map((n) => n.toString('latin1'))
  const found = new Set<ReflectionPlace>()
  const hit = (place: ReflectionPlace): void => { found.add(place); onMatch(place) }
  return {
    action,
    found,
    headers(headers: Record<string, string | string[]>): 'ok' | 'redacted' | 'block' {
      let result: 'ok' | 'redacted' | 'block' = 'ok'
      const clean = (v: string): string => {
        let out = v
        for (const t of texts) {
          if (!out.includes(t)) continue
          hit('header')
          result = action === 'block' ? 'block' : 'redacted'
          out = out.split(t).join(HEADER_REDACTION)
        }
        return out
      }
      for (const [name, value] of Object.entries(headers)) {
        headers[name] = Array.isArray(value) ? value.map(clean) : clean(value)
      }
      return result
    },
    body: () => new BodyScanner(needles, action, () => hit('body')),
  }
}

/** Streaming matcher over the decoded body; see the module comment. */
class BodyScanner extends Transform {
  private held: Buffer = Buffer.alloc(0)
  private readonly needles: readonly Buffer[]
  private readonly action: ReflectionAction
  private readonly onMatch: () => void

  constructor(needles: readonly Buffer[], action: ReflectionAction, onMatch: () => void) {
    super()
    this.needles = needles
    this.action = action
    this.onMatch = onMatch
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    const buf = this.held.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.held, chunk])
    if (this.redact(buf)) { cb(new ReflectionError('body')); return }
    const keep = this.possibleStart(buf)
    this.held = buf.subarray(buf.length - keep)
    cb(null, buf.subarray(0, buf.length - keep))
  }

  override _flush(cb: TransformCallback): void {
    cb(null, this.held.length > 0 ? this.held : undefined)
  }

  /** Overwrites every occurrence; true when the response must be cut instead (block mode). */
  private redact(buf: Buffer): boolean {
    for (const n of this.needles) {
      let at = buf.indexOf(n)
      while (at !== -1) {
        this.onMatch()
        if (this.action === 'block') return true
        buf.fill(REDACT_BYTE, at, at + n.length)
        at = buf.indexOf(n, at + n.length)
      }
    }
    return false
  }

  /** Length of the longest tail of buf that is a proper prefix of some needle. */
  private possibleStart(buf: Buffer): number {
    let keep = 0
    for (const n of this.needles) {
      const from = Math.max(0, buf.length - n.length + 1)
      for (let i = from; i < buf.length; i++) {
        const len = buf.length - i
        if (len <= keep) break
        if (buf[i] === n[0] && buf.compare(n, 0, len, i, buf.length) === 0) { keep = len; break }
      }
    }
    return keep
  }
}

// ---- content-coding ----

type Decoder = () => Duplex

const DECODERS: Record<string, Decoder> = {
  gzip: () => createGunzip(),
  'x-gzip': () => createGunzip(),
  br: () => createBrotliDecompress(),
  // "deflate" is zlib-wrapped by the spec, raw deflate by some servers: told apart by the header.
  deflate: () => new LazyDecoder((first) => ((first[0]! & 0x0f) === 8 && first.length > 1 && ((first[0]! << 8) | first[1]!) % 31 === 0 ? createInflate() : createInflateRaw())),
}
const zstd = (zlib as unknown as { createZstdDecompress?: () => Duplex }).createZstdDecompress
if (zstd) DECODERS['zstd'] = () => zstd()

/**
 * A decoder for a Content-Encoding value (codings listed in the order applied), null for identity,
 * or 'unsupported' naming the coding that cannot be undone. Each decoder is created only when
 * the first body byte arrives, so an empty body (HEAD, 204, 304) is not a truncated stream.
 */
export function contentDecoder(contentEncoding: string | string[] | undefined): Duplex | null | { unsupported: string } {
  if (contentEncoding === undefined) return null
  const codings = ([] as string[]).concat(contentEncoding).join(',').split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '' && c !== 'identity')
  if (codings.length === 0) return null
  const stages: Decoder[] = []
  for (const c of codings.reverse()) {
    const d = DECODERS[c]
    if (!d) return { unsupported: c }
    stages.push(d)
  }
  if (stages.length > 4) return { unsupported: codings.join(', ') }
  return new LazyDecoder(() => chain(stages.map((s) => s())))
}

function chain(stages: Duplex[]): Duplex {
  if (stages.length === 1) return stages[0]!
  const first = stages[0]!
  const last = stages[stages.length - 1]!
  for (let i = 0; i + 1 < stages.length; i++) {
    stages[i]!.pipe(stages[i + 1]!)
    stages[i + 1]!.on('error', (e) => first.destroy(e))
  }
  // Writes go into the first stage, output comes from the last: wrap as one Transform.
  return new LazyDecoder(() => first, last)
}

/**
 * Creates its inner decoder on the first chunk (so an empty body ends cleanly) and relays its
 * output with back-pressure: when the next stage is full the decoder is paused, so a small
 * compressed body that expands enormously (a decompression bomb) is never inflated faster than
 * the client reads it; the byte limit after it then cuts it at max_response_body_bytes.
 */
class LazyDecoder extends Duplex {
  private inner: Duplex | null = null
  private out: Duplex | null = null
  private readonly make: (first: Buffer) => Duplex
  private readonly output: Duplex | null

  constructor(make: (first: Buffer) => Duplex, output: Duplex | null = null) {
    super()
    this.make = make
    this.output = output
  }

  private start(first: Buffer): Duplex {
    const inner = this.make(first)
    const out = this.output ?? inner
    out.on('data', (d: Buffer) => { if (!this.push(d)) out.pause() })
    out.once('end', () => this.push(null))
    inner.on('error', (e) => this.destroy(e))
    if (out !== inner) out.on('error', (e) => this.destroy(e))
    this.inner = inner
    this.out = out
    return inner
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const inner = this.inner ?? this.start(chunk)
    if (inner.write(chunk)) cb()
    else inner.once('drain', () => cb())
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.inner === null) { this.push(null); cb(); return }
    // Finished only once everything decoded has been handed on, so whoever waits for this
    // stream's end (undici, then forward/) sees the whole body through.
    this.out!.once('end', () => cb())
    this.inner.end()
  }

  override _read(): void {
    this.out?.resume()
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.inner?.destroy()
    if (this.out !== this.inner) this.out?.destroy()
    cb(err)
  }
}
