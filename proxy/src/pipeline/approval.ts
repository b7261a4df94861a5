// Stage 5, approval: a call the policy allowed but asked a human about waits (bounded, and
// abandoned when the agent goes away) for an authenticated approver. In a dry run nothing waits:
// the call is reported as allowed with the approval it would need.

import type { ToolCall } from '../classify/toolcall.ts'
import type { Decision } from '../decide/decision.ts'
import { deny } from '../decide/deny.ts'
import type { ApprovalService } from './services.ts'

export async function approvalStage(approvals: ApprovalService | null, call: ToolCall, decision: Decision, opts: { dryRun: boolean; signal: AbortSignal }): Promise<Decision> {
  if (!decision.allow || decision.approval === null) return decision
  if (approvals === null) return deny(decision, 'approval', [...decision.reasons, 'approval required but approvals are not configured'])
  if (opts.dryRun) return decision
  const verdict = await approvals.request({ decisionId: call.id, tool: call.tool ?? '', method: call.method, host: call.target.host, path: call.target.path, reason: decision.approval.reason, taskId: call.taskId }, opts.signal)
  return verdict.approved ? decision : deny(decision, 'approval', [...decision.reasons, verdict.reason])
}
