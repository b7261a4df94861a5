// The three record kinds the credential lifecycle writes (same sink as decision records). Never
// a secret: provider, issuance id, expiry, task, tool and the decisions an issuance served.

import type { RevokeResult } from './providers/provider.ts'

/** Decision ids written per record (the count says how many there were). */
export const MAX_RECORDED_DECISION_IDS = 200

/** Why an issuance stopped being served before (or at) its expiry. */
export type RetireReason =
  | 'task_deleted'
  | 'task_expired'
  | 'task_ended_during_fetch'
  | 'evicted'
  | 'config_reload'
  | 'shutdown'
  | 'replaced'

export type CredentialIssuedRecord = {
  type: 'credential_issued'
  time: string
  provider: string
  provider_type: string
  issuance_id: string
  expires_at: string
  task: string | null
  tool: string
  audience: string | null
  resource: string | null
  scope: string[]
  decision_ids: string[]
  decision_count: number
}

export type CredentialRevokedRecord = {
  type: 'credential_revoked'
  time: string
  provider: string
  issuance_id: string
  expires_at: string
  task: string | null
  tool: string
  reason: RetireReason
  /** `expired`: nothing left to revoke, the issuer's own expiry had passed. */
  result: RevokeResult | 'expired'
  decision_ids: string[]
  decision_count: number
}

export type CredentialExpiredRecord = {
  type: 'credential_expired'
  time: string
  provider: string
  issuance_id: string
  task: string | null
  tool: string
  decision_ids: string[]
  decision_count: number
}

export type CredentialLifecycleRecord = CredentialIssuedRecord | CredentialRevokedRecord | CredentialExpiredRecord

/** The record sink's writer (record/record-types.ts): accepts every record kind of the union. */
export type { RecordWriter } from '../record/record-types.ts'
