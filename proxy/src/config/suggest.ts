// "did you mean ...?" for unknown fields, enum values and names: the closest candidate by edit
// distance, if it is close enough to be a plausible typo.

/** Levenshtein distance, bounded input (config keys are short). */
export function editDistance(a: string, b: string): number {
  if (a.length > 256 || b.length > 256) return Math.max(a.length, b.length)
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost)
    }
    prev = cur
  }
  return prev[b.length] ?? 0
}

/** The candidate closest to `input` (case-insensitive), or null when none is plausibly meant. */
export function closest(input: string, candidates: Iterable<string>): string | null {
  const needle = input.toLowerCase()
  let best: string | null = null
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = editDistance(needle, c.toLowerCase())
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  const allowed = Math.max(2, Math.floor(needle.length / 3))
  return best !== null && bestDistance <= allowed ? best : null
}

/** " (did you mean 'x'?)" or ''. */
export function didYouMean(input: string, candidates: Iterable<string>): string {
  const c = closest(input, candidates)
  return c === null ? '' : ` (did you mean '${c}'?)`
}
