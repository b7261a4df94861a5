// Builds the JSON record of one decision: who (agent, task), what (tool, method, host, path with
// query values redacted, MCP method and tool), the decision with its reasons and policy revision,
// the credential that served it (provider, issuance id, expiry - never the secret), the upstream
// status and the latencies. One line per decision, so a reviewer can replay an agent's chain.

import type { ToolCall } from '../classify/toolcall.ts'
import type { Decision } from '../decide/decision.ts'
import type { CredentialRecord } from '../credential/credential.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import { redactQuery, type RecordFields } from './records.ts'

export interface DecisionRecordInput {
  call: ToolCall
  decision: Decision
  agent: PolicyInput['agent']
  credential: CredentialRecord | null
  upstreamStatus: number | null
  /** Status the agent received. */
  status: number
  failure: { kind: string; reason: string } | null
  upstreamSeconds: number | null
  totalSeconds: number
}

export function decisionLabel(d: Decision): 'allow' | 'deny' | 'would_deny' {
  if (d.allow) return 'allow'
  return d.pass ? 'would_deny' : 'deny'
}

const ms = (s: number | null): number | null => (s === null ? null : Math.round(s * 1e6) / 1e3)

export function decisionRecord(r: DecisionRecordInput): RecordFields {
  const { call, decision } = r
  return {
    type: 'decision',
    id: call.id,
    time: new Date().toISOString(),
    via: call.via,
    agent: r.agent,
    task: call.taskId,
    tool: call.tool,
    route: call.route?.pattern ?? null,
    access: call.access,
    method: call.method,
    scheme: call.target.scheme,
    host: call.target.host,
    port: call.target.port,
    path: call.target.path,
    query: redactQuery(call.target.query),
    mcp: call.mcp ? { method: call.mcp.method, tool: call.mcp.toolName } : null,
    decision: decisionLabel(decision),
    mode: decision.mode,
    stage: decision.stage,
    reasons: decision.reasons,
    error: decision.error,
    policy_revision: decision.policyRevision,
    approval: decision.approval,
    credential: r.credential,
    status: r.status,
    upstream_status: r.upstreamStatus,
    failure: r.failure,
    latency_ms: { decide: ms(decision.decideSeconds), upstream: ms(r.upstreamSeconds), total: ms(r.totalSeconds) },
  }
}

/** The record of a request refused before it could be classified (malformed or ambiguous). */
export function parseRefusalRecord(r: { id: string; via: string; agent: PolicyInput['agent']; reason: string; status: number; startedAt: bigint | null }): RecordFields {
  return {
    type: 'decision',
    id: r.id,
    time: new Date().toISOString(),
    via: r.via,
    agent: r.agent,
    decision: 'deny',
    stage: 'parse',
    reasons: [r.reason],
    status: r.status,
    latency_ms: { total: r.startedAt === null ? null : ms(Number(process.hrtime.bigint() - r.startedAt) / 1e9) },
  }
}
