// What a tool name (and a JSON-RPC method) may contain. Names are compared after JSON decoding,
// so "\u0064elete_repo" IS delete_repo; what remains dangerous are characters that make two
// different names look alike or that a server may strip or normalise before lookup: control
// characters (Cc), invisible format characters (Cf: zero-width joiners, bidi overrides) and
// unpaired surrogates. Those names are refused at call time and hidden at list time.

export const MAX_TOOL_NAME_CHARS = 256

const FORBIDDEN = /[\p{Cc}\p{Cf}]/u

/** Why a name is unacceptable, or null when it is fine. */
export function nameProblem(name: string, what = 'tool name'): string | null {
  if (name.length === 0) return `${what} is empty`
  if (name.length > MAX_TOOL_NAME_CHARS) return `${what} is longer than ${MAX_TOOL_NAME_CHARS} characters`
  if (!(name as string & { isWellFormed(): boolean }).isWellFormed()) return `${what} contains an unpaired surrogate`
  if (FORBIDDEN.test(name)) return `${what} contains control or invisible format characters`
  return null
}
