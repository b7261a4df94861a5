// Every kind of record toolgate writes, one type per kind, in one union. The record sink
// (record/records.ts) and every writer accept only this union, so a new kind, or a field added to
// one kind, is a type here first: reviewers and `toolgate verify-records` readers find every
// record's shape in one place (docs/records.md describes them).

import type { DecisionRecord, ParseRefusalRecord } from './decision-record.ts'
import type { CredentialExpiredRecord, CredentialIssuedRecord, CredentialRevokedRecord } from '../credential/records.ts'
import type { ApprovalRequestedRecord, ApprovalResolvedRecord } from '../admin/approval-records.ts'
import type { Task } from '../tasks/registry.ts'
import type { CancelOutcome } from '../tasks/mcp-cancel.ts'

/** A task opened by a verified task grant (trust/grants.ts). */
export type TaskOpenedRecord = {
  type: 'task_opened'
  time: string
  task: string
  source: Task['source']
  issuer: string | null
  txn: string | null
  subject: string | null
  requester: string | null
  tools: string[] | null
  expires_at: string
}

/** A task ended (deleted by its owner, expired, or its calls ran out): credential/wiring.ts. */
export type TaskEndedRecord = {
  type: 'task_ended'
  time: string
  task: string
  source: Task['source']
  issuer: string | null
  reason: string
  calls: number
}

/** An MCP task cancelled at its server when the toolgate task ended (tasks/mcp-cancel.ts). */
export type McpTaskCancelRecord = {
  type: 'mcp_task_cancel'
  time: string
  task: string
  tool: string
  mcp_task: string
  outcome: CancelOutcome
  upstream_status: number | null
  reason?: string
  /** Which issuance the cancel carried (never the secret). */
  credential: { provider: string; issuance_id: string } | null
}

/** A tool definition pinned or changed in an MCP tools/list answer (pipeline/mcp.ts). */
export type McpPinRecord = {
  type: 'mcp_pin'
  time: string
  decision_id: string
  tool: string | null
  mcp_tool: string
  digest: string
  changed: string[]
  action: 'learned' | 'hidden' | 'flagged'
  reason: string
}

export type ToolgateRecord =
  | DecisionRecord
  | ParseRefusalRecord
  | CredentialIssuedRecord
  | CredentialRevokedRecord
  | CredentialExpiredRecord
  | ApprovalRequestedRecord
  | ApprovalResolvedRecord
  | TaskOpenedRecord
  | TaskEndedRecord
  | McpTaskCancelRecord
  | McpPinRecord

export type RecordType = ToolgateRecord['type']

/** What a record writer needs: the sink, or anything that forwards to it. */
export interface RecordWriter {
  write(record: ToolgateRecord): void
}
