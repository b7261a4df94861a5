// Compiled rate limits: which limits apply to a call, and which bucket of each it counts
// against. A limit selects calls by tool, route and MCP tool name; `per` says what gets its own
// bucket (the tool, the route, the task, the agent). Keys never hold anything the agent can
// choose freely except the task id, which a task must exist for (unknown tasks are denied before
// any limit is checked), so the number of buckets stays bounded by config and tasks.

import type { RateLimit } from '../config/schema.gen.ts'
import type { ToolCall } from '../classify/toolcall.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import type { BucketShape } from './bucket.ts'

export interface CompiledLimit {
  name: string
  tool: string | null
  route: string | null
  mcpTool: string | null
  per: 'tool' | 'route' | 'task' | 'agent'
  requests: number
  periodS: number
  burst: number
  scope: 'local' | 'global'
  shape: BucketShape
  /** Changes when the definition changes, so a reload with a new rate starts fresh buckets. */
  fingerprint: string
}

export function compileLimits(limits: readonly RateLimit[] | undefined): CompiledLimit[] {
  return (limits ?? []).map((l) => {
    const periodS = l.period_s ?? 60
    const burst = l.burst ?? l.requests
    const c = {
      name: l.name,
      tool: l.tool ?? null,
      route: l.route ?? null,
      mcpTool: l.mcp_tool ?? null,
      per: l.per ?? 'tool',
      requests: l.requests,
      periodS,
      burst,
      scope: l.scope ?? 'local',
      shape: { capacity: burst, ratePerS: l.requests / periodS },
    }
    return { ...c, fingerprint: JSON.stringify([c.name, c.tool, c.route, c.mcpTool, c.per, c.requests, periodS, burst, c.scope]) }
  })
}

export function limitApplies(limit: CompiledLimit, call: ToolCall): boolean {
  if (limit.tool !== null && call.tool !== limit.tool) return false
  if (limit.route !== null && call.route?.name !== limit.route && call.route?.pattern !== limit.route) return false
  if (limit.mcpTool !== null && (call.mcp?.method !== 'tools/call' || call.mcp.toolName !== limit.mcpTool)) return false
  return true
}

/** Who the agent is, as one string: the SPIFFE ID when there is one, else namespace/service account, else pod. */
export function agentKey(agent: PolicyInput['agent']): string {
  if (agent.spiffe_id) return agent.spiffe_id
  if (agent.namespace || agent.service_account) return `${agent.namespace ?? ''}/${agent.service_account ?? ''}`
  return agent.pod ?? '-'
}

/** The value that picks the bucket of `limit` for this call. */
export function bucketKey(limit: CompiledLimit, call: ToolCall, agent: PolicyInput['agent']): string {
  switch (limit.per) {
    case 'tool': return call.tool ?? '-'
    case 'route': return `${call.tool ?? '-'} ${call.route?.pattern ?? '-'}`
    case 'task': return call.taskId ?? '-'
    case 'agent': return agentKey(agent)
  }
}
