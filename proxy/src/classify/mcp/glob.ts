// Globs over MCP tool names: '*' matches any run of characters (including none), '?' exactly one
// character, everything else itself (case-sensitive, as MCP tool names are). Tool names are flat,
// so there is no '/' or '**' distinction. Matching is the classic two-pointer algorithm with one
// backtrack point: O(name x glob) at worst, never exponential like a naive regex of '.*' runs.

export interface Glob {
  readonly source: string
  /** Code points, so '?' consumes one character even outside the BMP. */
  readonly chars: readonly string[]
  readonly literal: boolean
}

export const MAX_GLOB_CHARS = 256

export function compileGlob(source: string): Glob {
  if (source.length === 0) throw new Error('empty glob')
  if (source.length > MAX_GLOB_CHARS) throw new Error(`glob longer than ${MAX_GLOB_CHARS} characters`)
  return { source, chars: Array.from(source), literal: !/[*?]/.test(source) }
}

export function globMatches(glob: Glob, name: string): boolean {
  if (glob.literal) return glob.source === name
  const p = glob.chars
  const s = Array.from(name)
  let i = 0
  let j = 0
  let star = -1
  let mark = 0
  while (i < s.length) {
    if (j < p.length && (p[j] === '?' || (p[j] !== '*' && p[j] === s[i]))) {
      i++
      j++
    } else if (j < p.length && p[j] === '*') {
      star = j++
      mark = i
    } else if (star !== -1) {
      j = star + 1
      i = ++mark
    } else {
      return false
    }
  }
  while (j < p.length && p[j] === '*') j++
  return j === p.length
}
