// Allowlist rules for the tools of one MCP server (Tool.mcp in toolgate.yaml), compiled once per
// config. These decide on the tool NAME only, which is all a tools/list entry offers; a tools/call
// is decided by these rules and then, with its arguments, by the Rego policy. So a name allowed
// here can still be denied on call, and a rule that reads arguments never hides a tool from a list.
//
// Choices where the schema is silent (docs/mcp.md):
// - allow_tools absent means NO tool is allowed (fail closed); write ["*"] to allow every name.
// - deny_tools wins over allow_tools.
// - tool_access: an exact name beats globs; among globs the first in file order wins; default execute.
// - tool_names: the MCP 2025-11-25 name rule by default; `any` for servers that use other names.

import type { McpRules } from '../../config/schema.gen.ts'
import type { Access } from '../toolcall.ts'
import { compileGlob, globMatches, type Glob } from './glob.ts'
import { toolNameProblem, type ToolNameRule } from './names.ts'

export const DEFAULT_MCP_PATH = '/mcp'
export const MAX_MCP_GLOBS = 1000

export interface CompiledMcpRules {
  readonly path: string
  readonly allow: readonly Glob[]
  readonly deny: readonly Glob[]
  readonly access: ReadonlyMap<string, Access>
  readonly accessGlobs: readonly { glob: Glob; access: Access }[]
  readonly batches: 'decide_each' | 'refuse'
  readonly toolNames: ToolNameRule
  /** Tool definition pinning (pins.ts): what a changed definition does, and declared digests. */
  readonly pin: { readonly onChange: 'refuse' | 'flag' | 'off'; readonly declared: ReadonlyMap<string, string> }
}

export interface McpToolVerdict {
  allowed: boolean
  access: Access
  reason: string
}

/** Throws with a message naming the offending field when a glob is unusable. */
export function compileMcpRules(rules: McpRules): CompiledMcpRules {
  const globs = (field: string, list: readonly string[] | undefined): Glob[] => {
    const src = list ?? []
    if (src.length > MAX_MCP_GLOBS) throw new Error(`mcp.${field}: more than ${MAX_MCP_GLOBS} entries`)
    return src.map((g, i) => {
      try {
        return compileGlob(g)
      } catch (err) {
        throw new Error(`mcp.${field}[${i}]: ${(err as Error).message}`)
      }
    })
  }
  const access = new Map<string, Access>()
  const accessGlobs: { glob: Glob; access: Access }[] = []
  for (const [pattern, cls] of Object.entries(rules.tool_access ?? {})) {
    const [glob] = globs(`tool_access[${JSON.stringify(pattern)}]`, [pattern])
    if (glob!.literal) access.set(pattern, cls)
    else accessGlobs.push({ glob: glob!, access: cls })
  }
  return {
    path: rules.path ?? DEFAULT_MCP_PATH,
    allow: globs('allow_tools', rules.allow_tools),
    deny: globs('deny_tools', rules.deny_tools),
    access,
    accessGlobs,
    batches: rules.batches ?? 'decide_each',
    toolNames: rules.tool_names ?? 'mcp',
    pin: { onChange: rules.pin?.on_change ?? 'refuse', declared: new Map(Object.entries(rules.pin?.definitions ?? {})) },
  }
}

export function mcpToolAccess(rules: CompiledMcpRules, toolName: string): Access {
  const exact = rules.access.get(toolName)
  if (exact !== undefined) return exact
  for (const g of rules.accessGlobs) if (globMatches(g.glob, toolName)) return g.access
  return 'execute'
}

export function mcpToolAllowed(rules: CompiledMcpRules, toolName: string): McpToolVerdict {
  const access = mcpToolAccess(rules, toolName)
  const shown = JSON.stringify(toolName.slice(0, 80))
  const problem = toolNameProblem(toolName, rules.toolNames)
  if (problem !== null) return { allowed: false, access, reason: problem }
  for (const g of rules.deny) {
    if (globMatches(g, toolName)) return { allowed: false, access, reason: `MCP tool ${shown} matches deny_tools ${JSON.stringify(g.source)}` }
  }
  for (const g of rules.allow) {
    if (globMatches(g, toolName)) return { allowed: true, access, reason: `MCP tool ${shown} matches allow_tools ${JSON.stringify(g.source)}` }
  }
  return { allowed: false, access, reason: rules.allow.length === 0 ? `no MCP tools are allowed (allow_tools is empty)` : `MCP tool ${shown} is not in allow_tools` }
}
