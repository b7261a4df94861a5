// Path patterns of routes and deny rules: '*' matches one segment, '**' any number of segments
// (including none), '{name}' captures one segment, anything else is a literal segment compared
// with the canonical path. Patterns are compiled once, at config load, and matched against the
// normalised path only (never the raw one), so a pattern can not be walked around by encodings.

import { normalisePath } from './target.ts'
import { lenientSegment } from './path-canonical.ts'

export type PatternSegment =
  | { kind: 'literal'; text: string }
  | { kind: 'one' } // *
  | { kind: 'capture'; name: string } // {name}
  | { kind: 'any' } // **

export interface PathPattern {
  readonly source: string
  /** Segments before the '**' (all of them when there is none). */
  readonly head: readonly PatternSegment[]
  /** Segments after the '**'; null when the pattern has no '**'. */
  readonly tail: readonly PatternSegment[] | null
}

export class PatternError extends Error {}

const CAPTURE = /^\{([A-Za-z_][A-Za-z0-9_]{0,63})\}$/
const MAX_PATTERN_LENGTH = 2048

/**
 * Compiles a pattern. Wildcards must be whole segments ('a*' and '{id}.json' are refused, so that
 * what a pattern matches is obvious from reading it); at most one '**'; capture names unique.
 * Literal segments are written in canonical form (the pattern '/a%7eb' is refused, say '/a~b').
 */
export function compilePattern(source: string): PathPattern {
  if (source.length > MAX_PATTERN_LENGTH) throw new PatternError(`pattern is longer than ${MAX_PATTERN_LENGTH} characters`)
  if (!source.startsWith('/')) throw new PatternError('pattern must start with "/"')
  if (source.includes('?') || source.includes('#')) throw new PatternError('pattern matches the path only: no "?" or "#"')
  const raw = source.slice(1).split('/')
  const segments: PatternSegment[] = []
  const names = new Set<string>()
  let anyAt = -1
  for (let i = 0; i < raw.length; i++) {
    const s = raw[i]!
    if (s === '**') {
      if (anyAt !== -1) throw new PatternError('at most one "**" per pattern')
      anyAt = segments.length
      segments.push({ kind: 'any' })
    } else if (s === '*') segments.push({ kind: 'one' })
    else if (s.startsWith('{') || s.endsWith('}')) {
      const m = CAPTURE.exec(s)
      if (!m) throw new PatternError(`invalid capture ${JSON.stringify(s)}: write {name} as a whole segment, name of letters, digits and "_"`)
      if (names.has(m[1]!)) throw new PatternError(`capture {${m[1]}} appears twice`)
      names.add(m[1]!)
      segments.push({ kind: 'capture', name: m[1]! })
    } else if (s.includes('*')) throw new PatternError(`"*" must be a whole segment (got ${JSON.stringify(s)})`)
    else if (s.includes('{') || s.includes('}')) throw new PatternError(`"{" and "}" are only allowed around a whole-segment capture (got ${JSON.stringify(s)})`)
    else {
      if (s === '' && i !== raw.length - 1) throw new PatternError('empty segment ("//") in pattern: such paths are refused, so it could never match')
      if (s === '.' || s === '..') throw new PatternError('dot segments in a pattern could never match a normalised path')
      const n = normalisePath('/' + s)
      if (!n.ok) throw new PatternError(`invalid literal segment ${JSON.stringify(s)}: ${n.reason}`)
      if (n.path !== '/' + s) throw new PatternError(`literal segment ${JSON.stringify(s)} is not in canonical form; write ${JSON.stringify(n.path.slice(1))}`)
      segments.push({ kind: 'literal', text: s })
    }
  }
  if (anyAt === -1) return { source, head: segments, tail: null }
  return { source, head: segments.slice(0, anyAt), tail: segments.slice(anyAt + 1) }
}

function matchSegments(pattern: readonly PatternSegment[], segs: readonly string[], offset: number, captures: Record<string, string>): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!
    const s = segs[offset + i]!
    switch (p.kind) {
      case 'literal':
        if (s !== p.text) return false
        break
      case 'one':
        if (s === '') return false // '*' names a segment; the empty one after a trailing '/' is not one
        break
      case 'capture':
        if (s === '') return false
        captures[p.name] = s
        break
      case 'any':
        return false // never inside head/tail
    }
  }
  return true
}

/**
 * Matches a normalised path (as returned by normalisePath). Returns the captures (still in their
 * canonical percent-encoded form), or null.
 */
export function matchPattern(pattern: PathPattern, path: string): Record<string, string> | null {
  return matchPatternSegments(pattern, path.slice(1).split('/'))
}

/** matchPattern on a path already split into segments (the lenient reading of deny rules). */
export function matchPatternSegments(pattern: PathPattern, segs: readonly string[]): Record<string, string> | null {
  const captures: Record<string, string> = {}
  if (pattern.tail === null) {
    if (segs.length !== pattern.head.length) return null
    return matchSegments(pattern.head, segs, 0, captures) ? captures : null
  }
  const fixed = pattern.head.length + pattern.tail.length
  // '/a/**' matches '/a' too: the zero-segment case drops the '/' before '**'.
  if (segs.length < fixed) return null
  if (!matchSegments(pattern.head, segs, 0, captures)) return null
  if (!matchSegments(pattern.tail, segs, segs.length - pattern.tail.length, captures)) return null
  return captures
}

/**
 * The pattern as a deny rule matches it: literal segments read the lenient way (path-canonical.ts),
 * empty ones dropped, to be matched against lenientSegments() of a path.
 */
export function lenientPattern(pattern: PathPattern): PathPattern {
  const fold = (segs: readonly PatternSegment[]): PatternSegment[] => {
    const out: PatternSegment[] = []
    for (const seg of segs) {
      if (seg.kind !== 'literal') { out.push(seg); continue }
      const r = lenientSegment(seg.text)
      if (r === null) continue
      if (typeof r !== 'string') throw new PatternError(`literal segment ${JSON.stringify(seg.text)}: ${r.ambiguous}`)
      out.push({ kind: 'literal', text: r })
    }
    return out
  }
  return { source: pattern.source, head: fold(pattern.head), tail: pattern.tail === null ? null : fold(pattern.tail) }
}
