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

/** Tool name rule of MCP 2025-11-25 (and 2026-07-28): 1 to 128 characters of A-Z a-z 0-9 _ - . */
export const MCP_TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/

/** `tool_names` in the MCP rules: the spec's rule, or any name without invisible characters. */
export type ToolNameRule = 'mcp' | 'any'

/** Why a tool name is unacceptable under the configured rule, or null. */
export function toolNameProblem(name: string, rule: ToolNameRule): string | null {
  const basic = nameProblem(name)
  if (basic !== null || rule === 'any') return basic
  if (!MCP_TOOL_NAME.test(name)) return `tool name ${JSON.stringify(name.slice(0, 80))} is not an MCP tool name (1-128 characters of A-Z a-z 0-9 _ - .; set mcp.tool_names: any for servers that use others)`
  return null
}
