// Step-up approvals. When the policy asks for approval, the pipeline holds the call in
// request() while the approval is announced (a record, and an optional webhook POST carrying the
// call digest); an authenticated approver answers on the control listener (trust/approvers.ts):
//   GET  /v1/approvals        (approver bearer) → 200 {approvals: [...pending]}
//   GET  /v1/approvals/<id>   (approver bearer) → 200 pending approval | 404
//   POST /v1/approvals/<id>   (approver bearer) {decision: 'approve'|'deny', reason?, call_digest?}
//                             or {decision_token: <signed approval decision>} → 200 | 400 | 401 | 403 | 404 | 409
// An approval is single use and bound to its call: a signed decision must name this approval id
// and the held call's digest; an answered id is remembered (bounded) so a replay is refused as
// such. The approval_resolved record names the approver. Bounded: at most maxPending held calls
// (one more is denied at once), each waits at most timeoutMs (then denied). The approval id is
// the decision id of the held call.
// A held call never outlives its task: when the task ends (its issuer ends it, or its grant
// expires) its held calls are denied at once (cancelTask, wired to the registry's 'ended' event),
// a call is not held for a task that has already ended, and an approval that arrives for a call
// whose task is gone is refused (taskAlive is asked at that moment), so an approved call never
// goes out without the task it was decided under (and never with a credential issued outside it).

import type { IncomingMessage, ServerResponse } from 'node:http'
import { Agent, request } from 'undici'
import type { Counter, Registry } from 'prom-client'
import { counter, gauge } from '../record/metric-table.ts'
import type { Logger } from '../record/log.ts'
import { readJsonBody, sendJson } from './api-tasks.ts'
import type { Approver, Approvers } from '../trust/approvers.ts'
import { redactQuery } from '../record/records.ts'
import type { RecordWriter } from '../record/record-types.ts'
import type { ApprovalOutcome, ApprovalView } from './approval-records.ts'

export interface ApprovalInfo {
  decisionId: string
  tool: string
  method: string
  host: string
  path: string
  reason: string
  taskId: string | null
  /** Canonical target, body hash and the digest a signed decision must carry (trust/call-digest.ts). */
  target: string
  bodySha256: string
  callDigest: string
}

export interface ApprovalVerdict {
  approved: boolean
  reason: string
}

export interface ApprovalGateOptions {
  timeoutMs: number
  maxPending: number
  webhook?: string
  records: RecordWriter
  logger: Logger
  registry?: Registry
  now?: () => number
  /** Webhook delivery timeout (default 5000 ms). */
  webhookTimeoutMs?: number
  /** Who may answer; null: nobody (every held call times out, every API call is 401). */
  approvers: Approvers | null
  /** Whether a task is still open (the task registry); absent: tasks are not checked. */
  taskAlive?: (taskId: string) => boolean
}

interface Pending {
  info: ApprovalInfo
  requestedAt: number
  expiresAt: number
  settle: (v: ApprovalVerdict, outcome: ApprovalOutcome, approver?: Approver) => void
}

const WEBHOOK_RETRY_DELAY_MS = 500
/** Answered approval ids remembered, so a replayed decision is refused as a replay. */
const MAX_ANSWERED = 1000

export class ApprovalGate {
  private opts: ApprovalGateOptions
  private readonly now: () => number
  private readonly pending = new Map<string, Pending>()
  private readonly answered = new Map<string, ApprovalOutcome>()
  /** Built when a webhook is first configured (at start or by a reload); closed with the gate. */
  private webhookAgent: Agent | null = null
  private readonly outcomes: Counter<'outcome'> | null
  private closed = false

  constructor(opts: ApprovalGateOptions) {
    this.opts = opts
    this.now = opts.now ?? Date.now
    if (opts.registry) {
      this.outcomes = counter(opts.registry, 'toolgate_approvals_total')
      const pending = this.pending
      gauge(opts.registry, 'toolgate_approvals_pending', { collect() { this.set(pending.size) } })
    } else this.outcomes = null
  }

  /** Bounds from a reloaded config: they apply to approvals requested from now on. */
  setLimits(limits: { timeoutMs: number; maxPending: number }): void {
    this.opts = { ...this.opts, ...limits }
  }

  /** The webhook from a reloaded config: approvals requested from now on are announced there (null: none). */
  setWebhook(url: string | null): void {
    const { webhook: _previous, ...rest } = this.opts
    this.opts = url === null ? rest : { ...rest, webhook: url }
  }

  /** One small pool for every webhook URL (bounded: 4 connections), made on first use. */
  private webhookClient(): Agent {
    this.webhookAgent ??= new Agent({ connect: { timeout: 2000 }, headersTimeout: 5000, bodyTimeout: 5000, connections: 4 })
    return this.webhookAgent
  }

  /** Holds the call until approved, denied, timed out, or the caller's signal aborts. */
  request(info: ApprovalInfo, signal?: AbortSignal): Promise<ApprovalVerdict> {
    if (this.closed) return Promise.resolve(this.refuse(info, 'cancelled', 'approvals are shutting down'))
    if (this.pending.size >= this.opts.maxPending) {
      return Promise.resolve(this.refuse(info, 'overflow', `too many calls awaiting approval (at most ${this.opts.maxPending})`))
    }
    if (this.pending.has(info.decisionId)) return Promise.resolve(this.refuse(info, 'cancelled', 'duplicate approval id'))
    if (!this.taskOpen(info.taskId)) return Promise.resolve(this.refuse(info, 'cancelled', `task ${info.taskId} has ended; its calls are not held for approval`))
    const requestedAt = this.now()
    const expiresAt = requestedAt + this.opts.timeoutMs
    return new Promise<ApprovalVerdict>((resolve) => {
      const timer = setTimeout(() => settle({ approved: false, reason: `approval timed out after ${this.opts.timeoutMs} ms` }, 'timeout'), this.opts.timeoutMs)
      const onAbort = (): void => settle({ approved: false, reason: 'the call was cancelled while awaiting approval' }, 'cancelled')
      const settle = (v: ApprovalVerdict, outcome: ApprovalOutcome, approver?: Approver): void => {
        if (this.pending.get(info.decisionId) !== entry) return
        this.pending.delete(info.decisionId)
        this.remember(info.decisionId, outcome)
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.outcomes?.inc({ outcome })
        this.opts.records.write({
          type: 'approval_resolved', time: new Date(this.now()).toISOString(), approval_id: info.decisionId, decision_id: info.decisionId, outcome, reason: v.reason, task: info.taskId, tool: info.tool, call_digest: info.callDigest,
          ...(approver ? { approver: approver.subject, approver_issuer: approver.issuer, approver_via: approver.via } : {}),
        })
        resolve(v)
      }
      const entry: Pending = { info, requestedAt, expiresAt, settle }
      this.pending.set(info.decisionId, entry)
      signal?.addEventListener('abort', onAbort, { once: true })
      const announcement = this.view(entry)
      // The record redacts query values like every record; the API and the webhook give approvers
      // the full target (what the call digest covers).
      this.opts.records.write({ type: 'approval_requested', time: new Date(requestedAt).toISOString(), ...announcement, target: redactTarget(info.target) })
      this.announce(announcement)
    })
  }

  async handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (url.pathname === '/v1/approvals') {
      if (req.method !== 'GET') return this.methodNotAllowed(req, res, 'GET')
      req.resume()
      if (!(await this.approver(req, res))) return true
      sendJson(res, 200, { approvals: [...this.pending.values()].map((p) => this.view(p)) })
      return true
    }
    const m = /^\/v1\/approvals\/([A-Za-z0-9_.:-]{1,128})$/.exec(url.pathname)
    if (!m) {
      if (!url.pathname.startsWith('/v1/approvals/')) return false
      req.resume()
      sendJson(res, 404, { error: 'not_found', reason: 'no such approval' })
      return true
    }
    const id = m[1]!
    if (req.method === 'GET') {
      req.resume()
      if (!(await this.approver(req, res))) return true
      const p = this.pending.get(id)
      if (p) sendJson(res, 200, this.view(p))
      else sendJson(res, 404, { error: 'not_found', reason: this.gone(id) })
      return true
    }
    if (req.method !== 'POST') return this.methodNotAllowed(req, res, 'GET, POST')
    const body = await readJsonBody(req, res)
    if (!body.ok) return true
    const v = body.value
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      sendJson(res, 400, { error: 'invalid_request', reason: 'body must be a JSON object {"decision": "approve"|"deny", "reason"?: string} or {"decision_token": string}' })
      return true
    }
    const o = v as Record<string, unknown>
    const signed = o.decision_token !== undefined
    const allowed = signed ? ['decision_token'] : ['decision', 'reason', 'call_digest']
    const extra = Object.keys(o).find((k) => !allowed.includes(k))
    if (extra !== undefined) {
      sendJson(res, 400, { error: 'invalid_request', reason: `unknown field "${extra.slice(0, 64)}" (expected ${signed ? 'decision_token alone' : 'decision, reason, call_digest'})` })
      return true
    }
    let decision: 'approve' | 'deny'
    let note: string | null
    let approver: Approver
    if (signed) {
      if (typeof o.decision_token !== 'string') {
        sendJson(res, 400, { error: 'invalid_request', reason: 'decision_token must be a string (a signed approval decision)' })
        return true
      }
      if (!this.opts.approvers) return this.unauthenticated(res, 'no approvers are configured')
      const d = await this.opts.approvers.verifyDecision(o.decision_token)
      if (!d.ok) return this.unauthenticated(res, d.reason)
      if (d.value.approvalId !== id) {
        sendJson(res, 403, { error: 'wrong_call', reason: `this approval decision is for another call (approval ${d.value.approvalId.slice(0, 128)}), not ${id}` })
        return true
      }
      const p = this.pending.get(id)
      if (!p) return this.notPending(res, id)
      if (d.value.callDigest !== p.info.callDigest) {
        sendJson(res, 403, { error: 'wrong_call', reason: 'this approval decision was signed for a different call (call_digest does not match the held call: method, target or body differ)' })
        return true
      }
      decision = d.value.decision
      note = d.value.reason
      approver = d.value.approver
    } else {
      if (o.decision !== 'approve' && o.decision !== 'deny') {
        sendJson(res, 400, { error: 'invalid_request', reason: 'decision must be "approve" or "deny"' })
        return true
      }
      if (o.reason !== undefined && (typeof o.reason !== 'string' || o.reason.length > 500)) {
        sendJson(res, 400, { error: 'invalid_request', reason: 'reason must be a string of at most 500 characters' })
        return true
      }
      if (o.call_digest !== undefined && typeof o.call_digest !== 'string') {
        sendJson(res, 400, { error: 'invalid_request', reason: 'call_digest must be a string' })
        return true
      }
      const who = await this.approver(req, res)
      if (!who) return true
      const held = this.pending.get(id)
      if (!held) return this.notPending(res, id)
      // Optional, and recommended: the digest of the call the approver looked at, so that what is
      // released is exactly what was shown.
      if (o.call_digest !== undefined && o.call_digest !== held.info.callDigest) {
        sendJson(res, 403, { error: 'wrong_call', reason: 'call_digest does not match the held call: method, target or body differ from what you were shown' })
        return true
      }
      decision = o.decision
      note = typeof o.reason === 'string' && o.reason !== '' ? o.reason : null
      approver = who
    }
    const p = this.pending.get(id)
    if (!p) return this.notPending(res, id)
    const approved = decision === 'approve'
    if (approved && !this.taskOpen(p.info.taskId)) {
      // Asking the registry may itself have ended the task (expiry) and so cancelled the call.
      this.pending.get(id)?.settle({ approved: false, reason: `task ${p.info.taskId} has ended while the call awaited approval` }, 'cancelled')
      sendJson(res, 409, { error: 'task_ended', reason: `the task of this call (${p.info.taskId}) has ended: the call was denied, not released` })
      return true
    }
    const by = ` by ${approver.subject.slice(0, 200)} (${approver.issuer})`
    const suffix = note !== null ? `: ${note}` : ''
    p.settle({ approved, reason: approved ? `approved${by}${suffix}` : `approval denied${by}${suffix}` }, approved ? 'approved' : 'denied', approver)
    sendJson(res, 200, { id, decision, approver: approver.subject })
    return true
  }

  /** The authenticated approver of this request, or null after answering 401/403. */
  private async approver(req: IncomingMessage, res: ServerResponse): Promise<Approver | null> {
    if (!this.opts.approvers) {
      this.unauthenticated(res, 'no approvers are configured (approvals.approvers, approvals.kubernetes): nobody can approve')
      return null
    }
    const a = await this.opts.approvers.authenticate(req.headers['authorization'])
    if (a.ok) return a.approver
    if (a.status === 401) this.unauthenticated(res, a.reason)
    else sendJson(res, 403, { error: 'forbidden', reason: a.reason })
    return null
  }

  private unauthenticated(res: ServerResponse, reason: string): boolean {
    res.setHeader('www-authenticate', 'Bearer realm="toolgate-control"')
    sendJson(res, 401, { error: 'unauthenticated', reason })
    return true
  }

  private notPending(res: ServerResponse, id: string): boolean {
    const answered = this.answered.has(id)
    sendJson(res, answered ? 409 : 404, { error: answered ? 'already_answered' : 'not_found', reason: this.gone(id) })
    return true
  }

  private gone(id: string): string {
    const outcome = this.answered.get(id)
    return outcome !== undefined
      ? `approval ${id} was already resolved (${outcome}); an approval is single use`
      : 'no pending approval with this id (unknown or timed out)'
  }

  private remember(id: string, outcome: ApprovalOutcome): void {
    this.answered.set(id, outcome)
    if (this.answered.size > MAX_ANSWERED) this.answered.delete(this.answered.keys().next().value!)
  }

  /** Denies every call held for this task (the task ended: deleted or expired). */
  cancelTask(taskId: string, why: string): void {
    for (const p of [...this.pending.values()]) {
      if (p.info.taskId === taskId) p.settle({ approved: false, reason: `task ${taskId} has ended (${why}) while the call awaited approval` }, 'cancelled')
    }
  }

  private taskOpen(taskId: string | null): boolean {
    return taskId === null || this.opts.taskAlive === undefined || this.opts.taskAlive(taskId)
  }

  get size(): number {
    return this.pending.size
  }

  /** Denies every held call and stops announcing. */
  async close(): Promise<void> {
    this.closed = true
    for (const p of [...this.pending.values()]) p.settle({ approved: false, reason: 'approvals are shutting down' }, 'cancelled')
    await this.webhookAgent?.close().catch(() => {})
  }

  private methodNotAllowed(req: IncomingMessage, res: ServerResponse, allow: string): boolean {
    req.resume()
    res.setHeader('allow', allow)
    sendJson(res, 405, { error: 'method_not_allowed', reason: `use ${allow}` })
    return true
  }

  private refuse(info: ApprovalInfo, outcome: ApprovalOutcome, reason: string): ApprovalVerdict {
    if (!this.pending.has(info.decisionId)) this.remember(info.decisionId, outcome)
    this.outcomes?.inc({ outcome })
    this.opts.records.write({ type: 'approval_resolved', time: new Date(this.now()).toISOString(), approval_id: info.decisionId, decision_id: info.decisionId, outcome, reason, task: info.taskId, tool: info.tool })
    return { approved: false, reason }
  }

  private view(p: Pending): ApprovalView {
    return {
      id: p.info.decisionId,
      decision_id: p.info.decisionId,
      tool: p.info.tool,
      method: p.info.method,
      host: p.info.host,
      path: p.info.path,
      target: p.info.target,
      body_sha256: p.info.bodySha256,
      call_digest: p.info.callDigest,
      reason: p.info.reason,
      task: p.info.taskId,
      requested_at: new Date(p.requestedAt).toISOString(),
      expires_at: new Date(p.expiresAt).toISOString(),
    }
  }

  /** Fire-and-forget webhook POST (one retry); failures are logged, never block the call. */
  private announce(body: ApprovalView): void {
    const url = this.opts.webhook
    if (!url || this.closed) return
    const dispatcher = this.webhookClient()
    const timeoutMs = this.opts.webhookTimeoutMs ?? 5000
    const send = async (): Promise<number> => {
      const res = await request(url, {
        method: 'POST',
        body: JSON.stringify({ type: 'approval_requested', ...body }),
        headers: { 'content-type': 'application/json' },
        dispatcher,
        signal: AbortSignal.timeout(timeoutMs),
      })
      await res.body.dump()
      return res.statusCode
    }
    void (async () => {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const status = await send()
          if (status < 500) return
        } catch { /* retried below */ }
        await new Promise((r) => setTimeout(r, WEBHOOK_RETRY_DELAY_MS))
      }
      this.opts.logger.warn('approval webhook delivery failed', { approval_id: body.id })
    })()
  }
}

/** scheme://host:port/path?query with every query value replaced (record/records.ts redactQuery). */
function redactTarget(target: string): string {
  const q = target.indexOf('?')
  return q === -1 ? target : `${target.slice(0, q)}?${redactQuery(target.slice(q + 1))}`
}
