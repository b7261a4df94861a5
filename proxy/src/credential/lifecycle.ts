// The end of a credential's life, and its paper trail. Every issuance is recorded when it is
// issued and exactly once when it stops being served: revoked at the issuer (RFC 7009, where the
// provider supports it) with the reason, or recorded as expired when nothing is left to revoke.
// Revocations run in the background but are tracked, so shutdown and task end can wait for them.
// Also the link from the task registry: a task that ends (deleted or expired) drops its
// credentials through the callback the broker gives (which revokes them).

import type { Logger } from '../record/log.ts'
import type { Task, TaskEndReason, TaskRegistry } from '../tasks/registry.ts'
import type { CredentialShape } from '../decide/credential-narrowing.ts'
import type { CredentialMetrics } from './credential-metrics.ts'
import type { CacheEntry, Issued } from './entry.ts'
import type { RevokeResult } from './providers/provider.ts'
import {
  MAX_RECORDED_DECISION_IDS,
  type CredentialExpiredRecord,
  type CredentialIssuedRecord,
  type CredentialRevokedRecord,
  type RecordWriter,
  type RetireReason,
} from './records.ts'

const REVOKE_TIMEOUT_MS = 5000

export interface LifecycleOptions {
  records: RecordWriter
  metrics: CredentialMetrics
  logger: Logger
  now: () => number
}

export class CredentialLifecycle {
  private readonly records: RecordWriter
  private readonly metrics: CredentialMetrics
  private readonly logger: Logger
  private readonly now: () => number
  private readonly pending = new Set<Promise<void>>()
  private detach: (() => void) | null = null

  constructor(opts: LifecycleOptions) {
    this.records = opts.records
    this.metrics = opts.metrics
    this.logger = opts.logger
    this.now = opts.now
  }

  /** Calls endTask when a task of `tasks` ends (deleted or expired). */
  watchTasks(tasks: TaskRegistry, endTask: (taskId: string, reason: RetireReason) => Promise<void>): void {
    const onEnded = (task: Task, reason: TaskEndReason): void => {
      this.track(endTask(task.id, reason === 'expired' ? 'task_expired' : 'task_deleted'))
    }
    tasks.on('ended', onEnded)
    this.detach = () => tasks.off('ended', onEnded)
  }

  issued(entry: CacheEntry, issued: Issued, shape: CredentialShape): void {
    const rec: CredentialIssuedRecord = {
      type: 'credential_issued',
      time: new Date(issued.issuedAt).toISOString(),
      provider: entry.providerName,
      provider_type: entry.provider.type,
      issuance_id: issued.issuanceId,
      expires_at: new Date(issued.expiresAt).toISOString(),
      task: entry.taskId,
      tool: entry.tool,
      audience: shape.audience,
      resource: shape.resource,
      scope: shape.scopes,
      decision_ids: issued.decisionIds.slice(0, MAX_RECORDED_DECISION_IDS),
      decision_count: issued.decisionCount,
    }
    this.records.write(rec)
  }

  /** Revokes every issuance of the entry not yet retired (current and the one a refresh replaced). */
  retire(entry: CacheEntry, reason: RetireReason): Promise<void> {
    return this.track(this.retireIssuances(entry, [entry.current, entry.previous], reason))
  }

  /**
   * The entry was replaced by a new fetch. Issuances the new entry carries are left alone; of the
   * rest, those the issuer may still accept are revoked ('replaced'), the others only recorded
   * as expired.
   */
  replaced(entry: CacheEntry): void {
    const now = this.now()
    const left = [entry.current, entry.previous].filter((i): i is Issued => i !== null && !i.carried && !i.retired)
    if (left.some((i) => (i.token.expiresAt ?? Infinity) > now)) {
      this.track(this.retireIssuances(entry, left, 'replaced'))
      return
    }
    for (const i of left) {
      i.retired = true
      const rec: CredentialExpiredRecord = {
        type: 'credential_expired',
        time: new Date(now).toISOString(),
        provider: entry.providerName,
        issuance_id: i.issuanceId,
        task: entry.taskId,
        tool: entry.tool,
        decision_ids: i.decisionIds.slice(0, MAX_RECORDED_DECISION_IDS),
        decision_count: i.decisionCount,
      }
      this.records.write(rec)
    }
  }

  /** Waits for every revocation started so far (and those they start). */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending])
  }

  close(): void {
    this.detach?.()
    this.detach = null
  }

  private async retireIssuances(entry: CacheEntry, issuances: (Issued | null)[], reason: RetireReason): Promise<void> {
    const todo = issuances.filter((i): i is Issued => i !== null && !i.retired)
    for (const i of todo) i.retired = true
    await Promise.all(todo.map(async (issued) => {
      const impl = entry.provider.impl
      let result: RevokeResult | 'expired' = 'not_supported'
      if ((issued.token.expiresAt ?? Infinity) <= this.now()) result = 'expired'
      else if (impl) result = await impl.revoke(issued.token, AbortSignal.timeout(REVOKE_TIMEOUT_MS)).catch((): RevokeResult => 'failed')
      if (result !== 'expired') this.metrics.revocations.inc({ provider: entry.providerName, result })
      if (result === 'failed') this.logger.warn('credential revocation failed', { provider: entry.providerName, issuance_id: issued.issuanceId })
      const rec: CredentialRevokedRecord = {
        type: 'credential_revoked',
        time: new Date(this.now()).toISOString(),
        provider: entry.providerName,
        issuance_id: issued.issuanceId,
        expires_at: new Date(issued.expiresAt).toISOString(),
        task: entry.taskId,
        tool: entry.tool,
        reason,
        result,
        decision_ids: issued.decisionIds.slice(0, MAX_RECORDED_DECISION_IDS),
        decision_count: issued.decisionCount,
      }
      this.records.write(rec)
    }))
  }

  /** Keeps a background promise reachable for settle(); its failure is logged, never thrown. */
  private track(p: Promise<void>): Promise<void> {
    const tracked: Promise<void> = p.catch((err: unknown) => {
      this.logger.error('credential retirement failed', { error: (err as Error).name })
    }).finally(() => { this.pending.delete(tracked) })
    this.pending.add(tracked)
    return tracked
  }
}
