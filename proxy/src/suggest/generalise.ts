// Turns observed request paths into route patterns: segments that are identifiers (numbers,
// UUIDs, long hex, opaque tokens) become captures named after the collection before them
// (/users/42 → /users/{user_id}); positions where many distinct literal values were seen under
// the same surrounding path become captures too. Pure functions over plain data.

const NUMERIC = /^\d+$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const HEX = /^[0-9a-f]{12,}$/i
// Opaque ids: long, mixed letters and digits (e.g. base62 ids, commit shas, ULIDs).
const OPAQUE = /^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9_-]{16,}$/

export function isIdentifier(segment: string): boolean {
  return NUMERIC.test(segment) || UUID.test(segment) || HEX.test(segment) || OPAQUE.test(segment)
}

function singular(word: string): string {
  const w = word.toLowerCase().replace(/[^a-z0-9_]/g, '_')
  if (w.endsWith('ies')) return w.slice(0, -3) + 'y'
  if (w.endsWith('ses')) return w.slice(0, -2)
  if (w.endsWith('s') && !w.endsWith('ss')) return w.slice(0, -1)
  return w || 'segment'
}

/** Capture name for position i, unique within the pattern. */
function captureName(segments: readonly string[], i: number, used: Set<string>, suffix: string): string {
  const prev = i > 0 ? segments[i - 1]! : ''
  const base = prev && !prev.startsWith('{') ? `${singular(prev)}_${suffix}` : suffix
  let name = base
  for (let n = 2; used.has(name); n++) name = `${base}${n}`
  used.add(name)
  return name
}

export function splitPath(path: string): string[] {
  return path.split('/').slice(1)
}

/** First pass: identifier-looking segments become captures. */
export function generaliseIdentifiers(path: string): string[] {
  const segments = splitPath(path)
  const used = new Set<string>()
  return segments.map((s, i) => (isIdentifier(s) ? `{${captureName(segments, i, used, 'id')}}` : s))
}

/**
 * Second pass over many paths (already through the first pass): where paths share every segment
 * but one position, and that position took at least `minDistinct` literal values, it becomes a
 * capture. Returns the generalised pattern of every input, in input order.
 */
export function generaliseVariants(paths: readonly string[][], minDistinct = 5): string[][] {
  const out = paths.map((p) => [...p])
  const byLength = new Map<number, number[]>()
  paths.forEach((p, i) => { const list = byLength.get(p.length) ?? []; list.push(i); byLength.set(p.length, list) })
  for (const indexes of byLength.values()) {
    const length = out[indexes[0]!]!.length
    for (let pos = 0; pos < length; pos++) {
      const groups = new Map<string, { values: Set<string>; members: number[] }>()
      for (const i of indexes) {
        const p = out[i]!
        const key = p.map((s, j) => (j === pos ? '\u0000' : s)).join('/')
        const g = groups.get(key) ?? { values: new Set<string>(), members: [] }
        g.values.add(p[pos]!)
        g.members.push(i)
        groups.set(key, g)
      }
      for (const g of groups.values()) {
        const literals = [...g.values].filter((v) => !v.startsWith('{'))
        if (literals.length < minDistinct) continue
        for (const i of g.members) {
          const p = out[i]!
          const used = new Set(p.filter((s) => s.startsWith('{')).map((s) => s.slice(1, -1)))
          p[pos] = `{${captureName(p, pos, used, 'name')}}`
        }
      }
    }
  }
  return out
}

export function joinPattern(segments: readonly string[]): string {
  return '/' + segments.join('/')
}
