// The one way a call ends: exactly one decision record and one toolgate_requests_total increment
// per decided call, on every listener, refusals before classification included. Listeners and
// stages never write records or count requests themselves; they hand the outcome to the
// Recorder. How the agent is answered (an HTTP response, a socket, nothing for a dry run) is the
// caller's; the error body itself comes from error-body.ts.

import type { ToolCall, Via } from '../classify/toolcall.ts'
import type { Decision } from '../decide/decision.ts'
import type { CredentialRecord } from '../credential/credential.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import { decisionLabel, decisionRecord, parseRefusalRecord, type DecisionRecordExtras } from '../record/decision-record.ts'
import type { RecordSink } from '../record/records.ts'
import type { Metrics } from '../record/metrics.ts'

// The failure kinds are one list (pipeline/failure.ts); re-exported here for the record writers.
export type { Failure, FailureKind, TunnelFailureKind } from './failure.ts'
import type { Failure } from './failure.ts'

/** Everything known about a call when it ends. */
export interface Outcome {
  call: ToolCall
  decision: Decision
  credential: CredentialRecord | null
  /** Status the agent received (0 for a message forwarded with another; 499 the agent went away). */
  status: number
  failure: Failure | null
  upstream?: { upstreamStatus: number | null; upstreamSeconds: number | null }
  startedAt: bigint
  /** Tool names an MCP tools/list answer had removed on the way back (names only). */
  hidden?: string[]
  /** Fields an MCP request adds to its record (each message's outcome, changed pins). */
  extra?: DecisionRecordExtras
  /** The call's trace (telemetry/traces.ts), named in its record. */
  trace?: { traceId: string; spanId: string }
  /** A failure after an allowed CONNECT: the CONNECT's decision id (record field tunnel_id). */
  tunnelId?: string
}

/** A request refused before it became a ToolCall (malformed, ambiguous, unreadable). */
export interface Refusal {
  id: string
  via: Via
  reason: string
  status: number
  /** null when the refusal happened before any request could be timed (a ClientHello timeout). */
  startedAt: bigint | null
  /** Default parse; internal when toolgate failed on the request before recording it. */
  stage?: 'parse' | 'internal'
}

export class Recorder {
  readonly #records: RecordSink
  readonly #metrics: Metrics

  constructor(deps: { records: RecordSink; metrics: Metrics }) {
    this.#records = deps.records
    this.#metrics = deps.metrics
  }

  /** Records a decided call. `agent` is the one of the call's own config snapshot. */
  decided(agent: PolicyInput['agent'], o: Outcome): void {
    const { call, decision } = o
    const label = decisionLabel(decision)
    this.#metrics.decisionSeconds.observe({ decision: label }, decision.decideSeconds)
    this.#metrics.requests.inc({ tool: call.tool ?? 'none', decision: label, stage: decision.stage ?? '' })
    const record = decisionRecord({
      call,
      decision,
      agent,
      credential: o.credential,
      upstreamStatus: o.upstream?.upstreamStatus ?? null,
      status: o.status,
      failure: o.failure,
      upstreamSeconds: o.upstream?.upstreamSeconds ?? null,
      totalSeconds: Number(process.hrtime.bigint() - o.startedAt) / 1e9,
    })
    if (o.hidden !== undefined && o.hidden.length > 0) record.mcp_hidden = o.hidden
    if (o.trace !== undefined) { record.trace_id = o.trace.traceId; record.span_id = o.trace.spanId }
    if (o.tunnelId !== undefined) record.tunnel_id = o.tunnelId
    this.#records.write(o.extra ? Object.assign(record, o.extra) : record)
  }

  /** Records a request refused before classification. */
  refused(agent: PolicyInput['agent'], r: Refusal): void {
    const stage = r.stage ?? 'parse'
    this.#metrics.requests.inc({ tool: 'none', decision: 'deny', stage })
    this.#records.write(parseRefusalRecord({ id: r.id, via: r.via, agent, reason: r.reason, status: r.status, startedAt: r.startedAt, stage }))
  }
}
