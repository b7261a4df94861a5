// Stage 5, approval: a call the policy allowed but asked a human about waits (bounded, and
// abandoned when the agent goes away) for an authenticated approver. The held call's body is
// read now (bounded): its digest binds the approval to exactly these bytes, and those bytes are
// what is forwarded. In a dry run nothing waits: the call is reported as allowed with the
// approval it would need (the body bound still applies).

import type { Readable } from 'node:stream'
import type { ToolCall } from '../classify/toolcall.ts'
import type { Decision } from '../decide/decision.ts'
import { deny } from '../decide/deny.ts'
import type { ApprovalService } from './services.ts'
import { bufferHeldBody, callDigest } from '../trust/call-digest.ts'

export type Body = Readable | Buffer | null

export async function approvalStage(approvals: ApprovalService | null, call: ToolCall, decision: Decision, body: Body, opts: { dryRun: boolean; signal: AbortSignal; maxHeldBodyBytes: number }): Promise<{ decision: Decision; body: Body }> {
  if (!decision.allow || decision.approval === null) return { decision, body }
  if (approvals === null) return { decision: deny(decision, 'approval', [...decision.reasons, 'approval required but approvals are not configured']), body }
  const held = await bufferHeldBody(body, opts.maxHeldBodyBytes)
  if (held === null) return { decision: deny(decision, 'approval', [...decision.reasons, `a call held for approval may carry at most ${opts.maxHeldBodyBytes} bytes of body`]), body: held }
  if (opts.dryRun) return { decision, body: held }
  const d = callDigest(call, held)
  const verdict = await approvals.request({ decisionId: call.id, tool: call.tool ?? '', method: call.method, host: call.target.host, path: call.target.path, reason: decision.approval.reason, taskId: call.taskId, target: d.target, bodySha256: d.bodySha256, callDigest: d.digest }, opts.signal)
  return { decision: verdict.approved ? decision : deny(decision, 'approval', [...decision.reasons, verdict.reason]), body: held }
}
