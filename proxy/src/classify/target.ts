// Canonical forms of the two parts of a target that the allowlist matches on: the host and the
// path. Both are pure functions that either return the one canonical spelling or refuse: a host
// or path that different parsers could read differently (hex IPv4, encoded separators, overlong
// UTF-8, ...) is never guessed at, because the upstream might guess differently than we did.
// See docs/allowlist.md for the full list and the reasons.

import { domainToASCII } from 'node:url'
import { isIPv6 } from 'node:net'

export type HostResult = { ok: true; host: string; isIp: boolean } | { ok: false; reason: string }
export type PathResult = { ok: true; path: string } | { ok: false; reason: string }

/** RFC 1035 limits (the name without its trailing dot). */
const MAX_HOST_LENGTH = 253
const MAX_LABEL_LENGTH = 63
/** A DNS label after IDNA: letters, digits, '-' and '_' (seen in real service names); no leading/trailing '-'. */
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/
/** What WHATWG URL parsers treat as a number in a host label (decimal, octal, hex, or empty hex). */
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|[0-9]+)$/i
const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/

/** Shows untrusted input in a reason without letting it run on or carry control characters. */
export function quote(raw: string, max = 80): string {
  const shown = raw.length > max ? raw.slice(0, max) + '…' : raw
  return JSON.stringify(shown)
}

function canonicalIpv6(inner: string): HostResult {
  // Zone identifiers (fe80::1%eth0) name an interface of *this* machine: never a tool destination.
  if (inner.includes('%')) return { ok: false, reason: `IPv6 zone identifiers are not allowed: ${quote(inner)}` }
  if (!isIPv6(inner)) return { ok: false, reason: `invalid IPv6 address ${quote(inner)}` }
  // WHATWG URL serialises IPv6 in RFC 5952 compressed, lower-case form, with brackets.
  const bracketed = new URL(`http://[${inner}]/`).hostname
  return { ok: true, host: bracketed.slice(1, -1), isIp: true }
}

function canonicalIpv4(host: string): HostResult {
  const parts = host.split('.')
  // Only the four-part dotted decimal form is unambiguous: 127.1, 0x7f.0.0.1, 0177.0.0.1 and
  // 2130706433 all mean 127.0.0.1 to some resolvers and something else (or a name) to others.
  if (parts.length !== 4 || !parts.every((p) => DECIMAL_OCTET.test(p) && Number(p) <= 255)) {
    return { ok: false, reason: `ambiguous IPv4 address ${quote(host)}: only dotted decimal a.b.c.d (no leading zeros, hex, octal or short forms) is accepted` }
  }
  return { ok: true, host, isIp: true }
}

/**
 * Canonical host: lower case, trailing dot removed, IDN in ASCII (punycode), IPv6 compressed and
 * without brackets, IPv4 only as plain dotted decimal. `raw` is a host without port; IPv6 may be
 * given with or without brackets.
 */
export function canonicalHost(raw: string): HostResult {
  if (raw === '') return { ok: false, reason: 'empty host' }
  if (raw.length > 1024) return { ok: false, reason: 'host is too long' }
  if (raw.startsWith('[')) {
    if (!raw.endsWith(']')) return { ok: false, reason: `unterminated IPv6 literal ${quote(raw)}` }
    return canonicalIpv6(raw.slice(1, -1))
  }
  if (raw.includes(':')) return canonicalIpv6(raw)
  // Characters no host may contain; checked before IDNA so that nothing is mapped away silently.
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x20\x7f%@/\\?#[\]<>^|"'`{}]/.test(raw)) return { ok: false, reason: `invalid character in host ${quote(raw)}` }
  let host = raw.endsWith('.') ? raw.slice(0, -1) : raw
  if (host === '' || host.endsWith('.')) return { ok: false, reason: `invalid host ${quote(raw)}` }
  const labels = host.split('.')
  // A host whose last label is numeric is an IPv4 address to WHATWG parsers (and to curl, glibc).
  if (NUMERIC_LABEL.test(labels[labels.length - 1]!)) return canonicalIpv4(host.toLowerCase())
  host = domainToASCII(host)
  if (host === '') return { ok: false, reason: `invalid international domain name ${quote(raw)}` }
  // UTS 46 mapping may itself produce a numeric last label (full-width digits): same rule.
  const asciiLabels = host.split('.')
  if (NUMERIC_LABEL.test(asciiLabels[asciiLabels.length - 1]!)) return canonicalIpv4(host)
  if (host.length > MAX_HOST_LENGTH) return { ok: false, reason: `host is longer than ${MAX_HOST_LENGTH} characters` }
  for (const label of asciiLabels) {
    if (label.length === 0 || label.length > MAX_LABEL_LENGTH || !LABEL.test(label)) {
      return { ok: false, reason: `invalid host ${quote(raw)}: bad label ${quote(label)}` }
    }
  }
  return { ok: true, host, isIp: false }
}

/** Renders host and port as a URL authority: IPv6 in brackets, the scheme's default port omitted. */
export function formatAuthority(host: string, port: number, scheme: 'http' | 'https'): string {
  const h = host.includes(':') ? `[${host}]` : host
  return port === defaultPort(scheme) ? h : `${h}:${port}`
}

export function defaultPort(scheme: 'http' | 'https'): number {
  return scheme === 'https' ? 443 : 80
}

/** Parses a port written after ':' in an authority: 1-65535, decimal, no sign, no leading zeros. */
export function parsePort(raw: string): number | null {
  if (!/^[1-9][0-9]{0,4}$/.test(raw)) return null
  const n = Number(raw)
  return n <= 65535 ? n : null
}

// ---- paths ----

const HEX = '0123456789ABCDEF'
const UNRESERVED = /^[A-Za-z0-9\-._~]$/
/** Characters allowed raw in a path segment (RFC 3986 pchar minus pct-encoded). */
const PCHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/
/** Printable ASCII that RFC 3986 does not allow raw in a path but that is unambiguous once encoded. */
const ENCODE_RAW = /^["<>^`{|}[\]]$/
/**
 * Decoded code points that some back ends fold into '/' or '\' (full-width and mathematical
 * solidus / reverse solidus): as ambiguous as an encoded separator.
 */
const LOOKALIKE_SEPARATORS = new Set([0x2215, 0x2216, 0x2044, 0xff0f, 0xff3c, 0x29f5, 0x29f8, 0x29f9])

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true })

function pct(byte: number): string {
  return '%' + HEX[byte >> 4] + HEX[byte & 15]
}

/**
 * Canonicalises one segment (no '/'): decodes unreserved escapes, upper-cases the others,
 * encodes the few printable characters RFC 3986 wants encoded, and refuses anything that would
 * read differently to another parser.
 */
function canonicalSegment(seg: string): { ok: true; seg: string } | { ok: false; reason: string } {
  let out = ''
  let i = 0
  let decodedDot = false
  while (i < seg.length) {
    const c = seg[i]!
    if (c !== '%') {
      const code = c.charCodeAt(0)
      if (code < 0x20 || code === 0x7f) return { ok: false, reason: 'control character in path' }
      if (c === ' ') return { ok: false, reason: 'space in path' }
      if (c === '\\') return { ok: false, reason: 'backslash in path (some servers read it as "/")' }
      if (code > 0x7e) return { ok: false, reason: 'non-ASCII character in path (percent-encode it as UTF-8)' }
      if (PCHAR.test(c)) out += c
      else if (ENCODE_RAW.test(c)) out += pct(code)
      else return { ok: false, reason: `character ${quote(c)} not allowed in path` }
      i++
      continue
    }
    // A run of consecutive escapes is decoded as one byte sequence so multi-byte UTF-8 can be checked.
    const bytes: number[] = []
    while (i < seg.length && seg[i] === '%') {
      const hex = seg.slice(i + 1, i + 3)
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return { ok: false, reason: 'malformed percent-escape in path' }
      bytes.push(parseInt(hex, 16))
      i += 3
    }
    let text: string
    try {
      text = fatalUtf8.decode(Uint8Array.from(bytes))
    } catch {
      return { ok: false, reason: 'percent-escapes in path are not valid UTF-8 (overlong or truncated sequence)' }
    }
    for (const ch of text) {
      const cp = ch.codePointAt(0)!
      if (cp === 0x2f) return { ok: false, reason: 'encoded "/" (%2F) in path' }
      if (cp === 0x5c) return { ok: false, reason: 'encoded "\\" (%5C) in path' }
      if (cp < 0x20 || cp === 0x7f || (cp >= 0x80 && cp <= 0x9f)) return { ok: false, reason: 'encoded control character (NUL, CR, LF, ...) in path' }
      if (LOOKALIKE_SEPARATORS.has(cp)) return { ok: false, reason: 'encoded look-alike of "/" or "\\" in path' }
    }
    for (const b of bytes) {
      const ch = String.fromCharCode(b)
      if (b < 0x80 && UNRESERVED.test(ch)) {
        if (ch === '.') decodedDot = true
        out += ch
      } else out += pct(b)
    }
  }
  if (decodedDot && (out === '.' || out === '..')) return { ok: false, reason: 'encoded dot segment (%2E) in path' }
  // Servlet containers strip ";params" before resolving dot segments: "/x/..;/admin" is "/admin" there.
  const beforeParams = out.split(';', 1)[0]!
  if (out.includes(';') && (beforeParams === '.' || beforeParams === '..')) {
    return { ok: false, reason: 'dot segment with ";" parameters in path (servlet containers resolve it)' }
  }
  return { ok: true, seg: out }
}

/**
 * Normalised path: escapes canonicalised, dot segments removed (RFC 3986 5.2.4). Refuses encoded
 * '/', '\', NUL and control characters, encoded dot segments, overlong or invalid UTF-8, raw
 * backslashes, '..' above the root, and empty segments ('//', which some servers merge and
 * others keep). A trailing '/' is kept: '/a/' and '/a' are different resources.
 */
export function normalisePath(raw: string): PathResult {
  if (!raw.startsWith('/')) return { ok: false, reason: 'path must start with "/"' }
  const rawSegments = raw.slice(1).split('/')
  const out: string[] = []
  for (let i = 0; i < rawSegments.length; i++) {
    const last = i === rawSegments.length - 1
    const r = rawSegments[i]!
    if (r === '' && !last) return { ok: false, reason: 'empty path segment ("//") in path' }
    const c = canonicalSegment(r)
    if (!c.ok) return c
    if (c.seg === '.') {
      if (last) out.push('')
    } else if (c.seg === '..') {
      if (out.length === 0) return { ok: false, reason: '".." in path goes above the root' }
      out.pop()
      if (last) out.push('')
    } else out.push(c.seg)
  }
  // "/." and "/.." at the root resolve to "/", which is the one empty segment.
  return { ok: true, path: '/' + out.join('/') }
}

/** Checks a raw query string (without '?'): forwarded as is, so it must be plain printable ASCII. */
export function checkQuery(raw: string): { ok: true } | { ok: false; reason: string } {
  // eslint-disable-next-line no-control-regex
  if (/[^\x21-\x7e]/.test(raw)) return { ok: false, reason: 'control, space or non-ASCII character in query' }
  if (raw.includes('#')) return { ok: false, reason: 'fragment ("#") in request target' }
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) return { ok: false, reason: 'malformed percent-escape in query' }
  return { ok: true }
}
