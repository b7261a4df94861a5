// Builds the JSON record of one decision: who (agent, task), what (tool, method, host, path with
// query values redacted, MCP method and tool), the decision with its reasons and policy revision,
// the credential that served it (provider, issuance id, expiry - never the secret), the upstream
// status and the latencies. One line per decision, so a reviewer can replay an agent's chain.

import type { ToolCall } from '../classify/toolcall.ts'
import type { Decision } from '../decide/decision.ts'
import type { CredentialRecord } from '../credential/credential.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import { redactQuery } from './records.ts'
import type { DecisionStage } from '../decide/decision.ts'
import type { Via } from '../classify/toolcall.ts'
import type { FailureKind } from '../pipeline/finish.ts'
import type { ReflectionAction, ReflectionPlace } from '../forward/reflection-guard.ts'

/** Latencies in milliseconds (microsecond precision); null where the stage did not run. */
export type LatencyMs = { decide: number | null; upstream: number | null; total: number | null }

/** The record of one decided call (type 'decision'). One per call, written by pipeline/finish.ts. */
export type DecisionRecord = {
  type: 'decision'
  id: string
  time: string
  via: Via
  agent: PolicyInput['agent']
  task: string | null
  tool: string | null
  route: string | null
  access: ToolCall['access']
  method: string
  scheme: ToolCall['target']['scheme']
  host: string
  port: number
  path: string
  /** Query with every value replaced by '_'. */
  query: string
  mcp: { method: string; tool: string | null } | null
  decision: 'allow' | 'deny' | 'would_deny'
  mode: 'enforce' | 'report'
  stage: DecisionStage | null
  reasons: string[]
  error: string | null
  policy_revision: string | null
  approval: { reason: string } | null
  credential: CredentialRecord | null
  status: number
  upstream_status: number | null
  failure: { kind: FailureKind; reason: string } | null
  latency_ms: LatencyMs
  /** Tool names a tools/list answer had removed on the way back. */
  mcp_hidden?: string[]
  /** A batch's per-message outcomes (names and decisions, never arguments). */
  mcp_messages?: McpMessageOutcome[]
  /** Tools called although their pinned definition changed (mcp pin on_change: flag). */
  mcp_pin_changed?: { tool: string | null; changed: string[] }[]
  /** The injected credential came back in the response (forward/reflection-guard.ts). */
  credential_reflected?: { action: ReflectionAction; places: ReflectionPlace[] }
  /** The call's trace and span (telemetry on). */
  trace_id?: string
  span_id?: string
  /** A failure after an allowed CONNECT: the CONNECT's decision id. */
  tunnel_id?: string
}

/** One JSON-RPC message of a batch, in its request's record. */
export type McpMessageOutcome = {
  index: number
  id: string | number | null
  method: string | null
  tool: string | null
  access: ToolCall['access']
  decision: 'allow' | 'deny' | 'would_deny'
  reasons: string[]
}

/** The MCP fields pipeline/mcp.ts adds to a request's record. */
export type McpRecordFields = Pick<DecisionRecord, 'mcp_messages' | 'mcp_pin_changed'>

/** Optional fields stages add to a request's record on the way (MCP, credential reflection). */
export type DecisionRecordExtras = Pick<DecisionRecord, 'mcp_messages' | 'mcp_pin_changed' | 'credential_reflected'>

/** The record of a request refused before it could be classified (also type 'decision'). */
export type ParseRefusalRecord = {
  type: 'decision'
  id: string
  time: string
  via: Via
  agent: PolicyInput['agent']
  decision: 'deny'
  /** parse: refused before classification; internal: toolgate failed before it could record the call. */
  stage: 'parse' | 'internal'
  reasons: [string]
  status: number
  latency_ms: { total: number | null }
}

export interface DecisionRecordInput {
  call: ToolCall
  decision: Decision
  agent: PolicyInput['agent']
  credential: CredentialRecord | null
  upstreamStatus: number | null
  /** Status the agent received. */
  status: number
  failure: { kind: FailureKind; reason: string } | null
  upstreamSeconds: number | null
  totalSeconds: number
}

export function decisionLabel(d: Decision): 'allow' | 'deny' | 'would_deny' {
  if (d.allow) return 'allow'
  return d.pass ? 'would_deny' : 'deny'
}

const ms = (s: number | null): number | null => (s === null ? null : Math.round(s * 1e6) / 1e3)

export function decisionRecord(r: DecisionRecordInput): DecisionRecord {
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
export function parseRefusalRecord(r: { id: string; via: Via; agent: PolicyInput['agent']; reason: string; status: number; startedAt: bigint | null; stage?: 'parse' | 'internal' }): ParseRefusalRecord {
  return {
    type: 'decision',
    id: r.id,
    time: new Date().toISOString(),
    via: r.via,
    agent: r.agent,
    decision: 'deny',
    stage: r.stage ?? 'parse',
    reasons: [r.reason],
    status: r.status,
    latency_ms: { total: r.startedAt === null ? null : ms(Number(process.hrtime.bigint() - r.startedAt) / 1e9) },
  }
}
