// The two record kinds of step-up approvals (same sink as decision records): one when a call is
// held for approval, one when it is resolved (approved, denied, timed out, refused at once or
// cancelled). Never a secret: the target's query values are redacted like every record's.

import type { Approver } from '../trust/approvers.ts'

export type ApprovalOutcome = 'approved' | 'denied' | 'timeout' | 'overflow' | 'cancelled'

/** A held call as approvers see it (the API, the webhook) and as its record carries it. */
export type ApprovalView = {
  /** The approval id: the decision id of the held call. */
  id: string
  decision_id: string
  tool: string
  method: string
  host: string
  path: string
  /** Canonical target (full in the API and webhook; query values redacted in the record). */
  target: string
  body_sha256: string
  /** What a signed approval decision must carry (trust/call-digest.ts). */
  call_digest: string
  /** Why the policy asked for approval. */
  reason: string
  task: string | null
  requested_at: string
  expires_at: string
}

export type ApprovalRequestedRecord = { type: 'approval_requested'; time: string } & ApprovalView

export type ApprovalResolvedRecord = {
  type: 'approval_resolved'
  time: string
  approval_id: string
  decision_id: string
  outcome: ApprovalOutcome
  reason: string
  task: string | null
  tool: string
  /** Present once the call was held (absent when it was refused at once). */
  call_digest?: string
  /** Who answered (approved or denied by an approver). */
  approver?: string
  approver_issuer?: string
  approver_via?: Approver['via']
}
