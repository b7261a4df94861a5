// Object keys another JSON parser could read as a different key. Go's encoding/json (and every
// Go MCP server built on it before go-sdk v1.3.1, CVE-2026-27896) matches object keys to struct
// fields case-insensitively, with Unicode simple folding (so "ſ" U+017F is "s" and "K" U+212A is
// "k"), and the LAST matching key wins: {"name":"get_x","Name":"delete_x"} is get_x to toolgate and
// delete_x to such a server. Other servers strip NUL or invisible characters from keys. So at any
// depth of a message toolgate refuses an object whose keys
// - collide under case folding ("name"/"Name", "params"/"paramſ"),
// - contain a non-ASCII character that folds to ASCII ("nameſ" would be "names", "Kind" "kind"),
// - contain control (Cc, including NUL) or format (Cf: zero-width, bidi, BOM) characters,
// - contain an unpaired surrogate.
// The fold here is deliberately wider than Go's (JavaScript's full case mapping: "ß" folds to
// "SS"): a wider fold refuses more, never less.

const FORBIDDEN = /[\p{Cc}\p{Cf}]/u
// eslint-disable-next-line no-control-regex
const ASCII = /^[\x00-\x7f]*$/

/** The key as a case-insensitive parser compares it. */
export function foldKey(key: string): string {
  let out = ''
  for (const ch of key) out += ch.toLowerCase().toUpperCase()
  return out
}

/** Why a key on its own is unacceptable, or null. */
export function keyProblem(key: string): string | null {
  if (!(key as string & { isWellFormed(): boolean }).isWellFormed()) return 'contains an unpaired surrogate'
  if (FORBIDDEN.test(key)) return 'contains a NUL, control or invisible format character'
  if (!ASCII.test(key)) {
    for (const ch of key) {
      if (ch.codePointAt(0)! > 0x7f && ASCII.test(ch.toLowerCase().toUpperCase())) {
        return `contains ${JSON.stringify(ch)} (U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}), which case-insensitive parsers read as ASCII ${JSON.stringify(ch.toLowerCase().toUpperCase())}`
      }
    }
  }
  return null
}

/** Checks the keys of one object; a reason naming the offending key(s), or null. */
export function objectKeysProblem(keys: readonly string[]): string | null {
  const folded = new Map<string, string>()
  for (const key of keys) {
    const p = keyProblem(key)
    if (p !== null) return `key ${JSON.stringify(key.slice(0, 64))} ${p}`
    const f = foldKey(key)
    const other = folded.get(f)
    if (other !== undefined) {
      return other === key ? `duplicate key ${JSON.stringify(key.slice(0, 64))}` : `keys ${JSON.stringify(other.slice(0, 64))} and ${JSON.stringify(key.slice(0, 64))} collide under case folding (case-insensitive parsers read them as one key)`
    }
    folded.set(f, key)
  }
  return null
}
