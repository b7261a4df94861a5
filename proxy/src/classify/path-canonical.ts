// The lenient reading of a path that deny rules are matched against. Allow routes match the
// strict canonical path (normalisePath) exactly; a deny rule must also hold against the most
// lenient common back end, which may
//   - fold case (Express 5, ASP.NET, IIS: /ADMIN is /admin),
//   - drop ";" path parameters (Tomcat, Jetty, Spring: /admin;jsessionid=1/x is /admin/x),
//   - strip trailing dots and spaces from a segment (IIS, Windows file systems: /admin./x, /admin%20/x),
//   - merge empty segments and ignore a trailing "/" (/;x/admin, /admin/),
//   - percent-decode again (proxies and frameworks that decode twice or more: %2561 is "a");
//     segments are decoded until nothing changes (bounded), which covers twice and any depth.
// Each segment of the canonical path is read that way. A segment that only becomes a separator,
// a dot segment or a control character on that reading (%252F, %252e%252e, "..%20") means two
// different paths to two parsers: such a path is refused outright rather than guessed at.
// See docs/allowlist.md ("How deny rules match").

export type LenientResult = { ok: true; segments: string[] } | { ok: false; reason: string }

const ESCAPE = /%([0-9A-Fa-f]{2})/g
const MAX_DECODE_ROUNDS = 8

/** One percent-decoding round, byte-wise (bytes above 0x7f stay as latin1 code points). */
function decodeOnce(s: string): string {
  return s.includes('%') ? s.replace(ESCAPE, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))) : s
}

/**
 * Reads one canonical segment (percent-escapes already canonical: unreserved decoded, others
 * upper-case %XX) as the most lenient back end would; null when the segment vanishes (empty),
 * an error string when the reading is ambiguous.
 */
export function lenientSegment(segment: string): string | null | { ambiguous: string } {
  // normalisePath's escapes stand for bytes it kept encoded: the first round here is the back
  // end's ordinary decoding, every further one a repeated decoding by some layer behind it.
  let decoded = segment
  for (let round = 0; ; round++) {
    const next = decodeOnce(decoded)
    if (next === decoded) break
    if (round === MAX_DECODE_ROUNDS) return { ambiguous: `percent-encoding nested more than ${MAX_DECODE_ROUNDS} deep in path` }
    decoded = next
  }
  // eslint-disable-next-line no-control-regex
  if (/[/\\]/.test(decoded)) return { ambiguous: 'multiply-encoded "/" or "\\" in path' }
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(decoded)) return { ambiguous: 'multiply-encoded control character in path' }
  const beforeParams = decoded.split(';', 1)[0]!
  // normalisePath resolved every plain "." and ".." segment; a segment that still reads as dots
  // (and spaces) only does so through double encoding, ";" parameters or trailing spaces, and a
  // lenient back end may resolve it as a dot segment.
  if (beforeParams !== '' && /^[. ]+$/.test(beforeParams)) return { ambiguous: 'segment that a lenient server reads as a dot segment (multiply-encoded dots, dots with ";" parameters or trailing spaces)' }
  const stripped = beforeParams.replace(/[. ]+$/, '')
  if (stripped === '') return null
  return stripped.toLowerCase()
}

/**
 * The lenient segments of a normalised path (as returned by normalisePath). Empty segments
 * (a trailing "/", or segments that were only ";" parameters) are dropped.
 */
export function lenientSegments(path: string): LenientResult {
  const out: string[] = []
  for (const seg of path.slice(1).split('/')) {
    if (seg === '') continue
    const r = lenientSegment(seg)
    if (r === null) continue
    if (typeof r !== 'string') return { ok: false, reason: r.ambiguous }
    out.push(r)
  }
  return { ok: true, segments: out }
}
