// tools/list says which tools the agent cannot call now. For every tool a listing keeps (its
// name passed the tool's allow/deny rules), a representative tools/call is decided as a dry run:
// the listing request's own context (agent, task or none), method POST, the tool's access class,
// empty arguments, through the real policy and route checks, with no rate-limit token taken. A
// tool that call would be denied for keeps its place in the list with its description saying so
// (and why, and that a task unlocks it when that is the reason), plus _meta["toolgate/denied"].
//
// Annotated rather than removed: a model that cannot see a tool cannot tell its user that a task
// (an issued grant) would let it act, and MCP clients cache listings; a removed tool would stay
// invisible after the agent gets a task. The call itself is still decided when it is made: this
// is advice, never a permission. Bounded: at most MAX_EVALUATED tools per listing and the MCP
// evaluation budget; tools past either bound are left as the server described them.

import type { ToolCall } from '../classify/toolcall.ts'
import type { Decision } from '../decide/decision.ts'
import type { CompiledMcpRules } from '../classify/mcp/rules.ts'
import type { McpMessage } from '../classify/mcp/parse.ts'
import type { AllowlistVerdict } from '../decide/decide.ts'
import { messageCall, messageVerdict } from './mcp.ts'

/** Most tools of one listing dry-run against the policy. */
export const MAX_EVALUATED = 256
/** Longest reason quoted in a description. */
const MAX_REASON_CHARS = 300

export type DryRunDecide = (call: ToolCall, verdict: AllowlistVerdict) => Decision

/** The suffix a denied tool's description gets. */
export function deniedSuffix(reason: string): string {
  return `[toolgate: calling this tool now would be denied: ${reason.slice(0, MAX_REASON_CHARS)}]`
}

export function deniedToolAnnotator(base: ToolCall, rules: CompiledMcpRules, dryRun: DryRunDecide, budgetMs: number): (tool: Record<string, unknown>) => Record<string, unknown> | null {
  const started = process.hrtime.bigint()
  const budgetNs = BigInt(budgetMs) * 1_000_000n
  let evaluated = 0
  return (tool) => {
    const name = tool['name']
    if (typeof name !== 'string') return null
    if (evaluated >= MAX_EVALUATED || process.hrtime.bigint() - started > budgetNs) return null
    evaluated++
    const message: McpMessage = { kind: 'request', call: { method: 'tools/call', id: 0, toolName: name, arguments: {} }, nameParam: name, metaVersion: null, taskId: null, taskRequested: false } as McpMessage
    const call: ToolCall = { ...messageCall(base, message, rules), method: 'POST' }
    const decision = dryRun(call, messageVerdict(message, rules))
    if (decision.pass) return null
    const reason = decision.reasons.join('; ') || 'denied by policy'
    const description = typeof tool['description'] === 'string' && tool['description'] !== '' ? `${tool['description']}\n\n${deniedSuffix(reason)}` : deniedSuffix(reason)
    const meta = typeof tool['_meta'] === 'object' && tool['_meta'] !== null ? tool['_meta'] as Record<string, unknown> : {}
    return { ...tool, description, _meta: { ...meta, 'toolgate/denied': reason.slice(0, MAX_REASON_CHARS) } }
  }
}
