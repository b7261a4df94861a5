// Step-up approvals. When the policy asks for approval, the pipeline holds the call in
// request() while the approval is announced (a record, and an optional webhook POST); a human or
// system answers on the admin listener:
//   GET  /v1/approvals        → 200 {approvals: [...pending]}
//   GET  /v1/approvals/<id>   → 200 pending approval | 404
//   POST /v1/approvals/<id>   {decision: 'approve'|'deny', reason?} → 200 | 404 | 400
// Bounded: at most maxPending held calls (one more is denied at once) and each waits at most
// timeoutMs (then denied). The approval id is the decision id of the held call.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { Agent, request } from 'undici'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Logger } from '../record/log.ts'
import { readJsonBody, sendJson } from './api-tasks.ts'

export interface ApprovalInfo {
  decisionId: string
  tool: string
  method: string
  host: string
  path: string
  reason: string
  taskId: string | null
}

export interface ApprovalVerdict {
  approved: boolean
  reason: string
}

export interface ApprovalGateOptions {
  timeoutMs: number
  maxPending: number
  webhook?: string
  records: { write(rec: Record<string, unknown>): void }
  logger: Logger
  registry?: Registry
  now?: () => number
  /** Webhook delivery timeout (default 5000 ms). */
  webhookTimeoutMs?: number
}

interface Pending {
  info: ApprovalInfo
  requestedAt: number
  expiresAt: number
  settle: (v: ApprovalVerdict, outcome: string) => void
}

const WEBHOOK_RETRY_DELAY_MS = 500

export class ApprovalGate {
  private opts: ApprovalGateOptions
  private readonly now: () => number
  private readonly pending = new Map<string, Pending>()
  private readonly webhookAgent: Agent | null
  private readonly outcomes: Counter<'outcome'> | null
  private closed = false

  constructor(opts: ApprovalGateOptions) {
    this.opts = opts
    this.now = opts.now ?? Date.now
    this.webhookAgent = opts.webhook ? new Agent({ connect: { timeout: 2000 }, headersTimeout: 5000, bodyTimeout: 5000, connections: 4 }) : null
    if (opts.registry) {
      this.outcomes = new Counter({ name: 'toolgate_approvals_total', help: 'Approval requests by outcome (approved, denied, timeout, overflow, cancelled).', labelNames: ['outcome'] as const, registers: [opts.registry] })
      const pending = this.pending
      new Gauge({ name: 'toolgate_approvals_pending', help: 'Calls currently held waiting for approval.', registers: [opts.registry], collect(this: Gauge) { this.set(pending.size) } })
    } else this.outcomes = null
  }

  /** Bounds from a reloaded config: they apply to approvals requested from now on. */
  setLimits(limits: { timeoutMs: number; maxPending: number }): void {
    this.opts = { ...this.opts, ...limits }
  }

  /** Holds the call until approved, denied, timed out, or the caller's signal aborts. */
  request(info: ApprovalInfo, signal?: AbortSignal): Promise<ApprovalVerdict> {
    if (this.closed) return Promise.resolve(this.refuse(info, 'cancelled', 'approvals are shutting down'))
    if (this.pending.size >= this.opts.maxPending) {
      return Promise.resolve(this.refuse(info, 'overflow', `too many calls awaiting approval (at most ${this.opts.maxPending})`))
    }
    if (this.pending.has(info.decisionId)) return Promise.resolve(this.refuse(info, 'cancelled', 'duplicate approval id'))
    const requestedAt = this.now()
    const expiresAt = requestedAt + this.opts.timeoutMs
    return new Promise<ApprovalVerdict>((resolve) => {
      const timer = setTimeout(() => settle({ approved: false, reason: `approval timed out after ${this.opts.timeoutMs} ms` }, 'timeout'), this.opts.timeoutMs)
      const onAbort = (): void => settle({ approved: false, reason: 'the call was cancelled while awaiting approval' }, 'cancelled')
      const settle = (v: ApprovalVerdict, outcome: string): void => {
        if (this.pending.get(info.decisionId) !== entry) return
        this.pending.delete(info.decisionId)
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        this.outcomes?.inc({ outcome })
        this.opts.records.write({ type: 'approval_resolved', time: new Date(this.now()).toISOString(), approval_id: info.decisionId, decision_id: info.decisionId, outcome, reason: v.reason, task: info.taskId, tool: info.tool })
        resolve(v)
      }
      const entry: Pending = { info, requestedAt, expiresAt, settle }
      this.pending.set(info.decisionId, entry)
      signal?.addEventListener('abort', onAbort, { once: true })
      const announcement = this.view(entry)
      this.opts.records.write({ type: 'approval_requested', time: new Date(requestedAt).toISOString(), ...announcement })
      this.announce(announcement)
    })
  }

  async handleApi(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
    if (url.pathname === '/v1/approvals') {
      if (req.method !== 'GET') return this.methodNotAllowed(req, res, 'GET')
      sendJson(res, 200, { approvals: [...this.pending.values()].map((p) => this.view(p)) })
      return true
    }
    const m = /^\/v1\/approvals\/([A-Za-z0-9_.:-]{1,128})$/.exec(url.pathname)
    if (!m) {
      if (!url.pathname.startsWith('/v1/approvals/')) return false
      sendJson(res, 404, { error: 'not_found', reason: 'no such approval' })
      return true
    }
    const id = m[1]!
    if (req.method === 'GET') {
      const p = this.pending.get(id)
      if (p) sendJson(res, 200, this.view(p))
      else sendJson(res, 404, { error: 'not_found', reason: 'no pending approval with this id (unknown, answered or timed out)' })
      return true
    }
    if (req.method !== 'POST') return this.methodNotAllowed(req, res, 'GET, POST')
    const body = await readJsonBody(req, res)
    if (!body.ok) return true
    const v = body.value
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      sendJson(res, 400, { error: 'invalid_request', reason: 'body must be a JSON object {"decision": "approve"|"deny", "reason"?: string}' })
      return true
    }
    const o = v as Record<string, unknown>
    const extra = Object.keys(o).find((k) => k !== 'decision' && k !== 'reason')
    if (extra !== undefined) {
      sendJson(res, 400, { error: 'invalid_request', reason: `unknown field "${extra.slice(0, 64)}" (expected decision, reason)` })
      return true
    }
    if (o.decision !== 'approve' && o.decision !== 'deny') {
      sendJson(res, 400, { error: 'invalid_request', reason: 'decision must be "approve" or "deny"' })
      return true
    }
    if (o.reason !== undefined && (typeof o.reason !== 'string' || o.reason.length > 500)) {
      sendJson(res, 400, { error: 'invalid_request', reason: 'reason must be a string of at most 500 characters' })
      return true
    }
    const p = this.pending.get(id)
    if (!p) {
      sendJson(res, 404, { error: 'not_found', reason: 'no pending approval with this id (unknown, answered or timed out)' })
      return true
    }
    const approved = o.decision === 'approve'
    const note = typeof o.reason === 'string' && o.reason !== '' ? `: ${o.reason}` : ''
    p.settle({ approved, reason: approved ? `approved${note}` : `approval denied${note}` }, approved ? 'approved' : 'denied')
    sendJson(res, 200, { id, decision: o.decision })
    return true
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

  private refuse(info: ApprovalInfo, outcome: string, reason: string): ApprovalVerdict {
    this.outcomes?.inc({ outcome })
    this.opts.records.write({ type: 'approval_resolved', time: new Date(this.now()).toISOString(), approval_id: info.decisionId, decision_id: info.decisionId, outcome, reason, task: info.taskId, tool: info.tool })
    return { approved: false, reason }
  }

  private view(p: Pending): Record<string, unknown> {
    return {
      id: p.info.decisionId,
      decision_id: p.info.decisionId,
      tool: p.info.tool,
      method: p.info.method,
      host: p.info.host,
      path: p.info.path,
      reason: p.info.reason,
      task: p.info.taskId,
      requested_at: new Date(p.requestedAt).toISOString(),
      expires_at: new Date(p.expiresAt).toISOString(),
    }
  }

  /** Fire-and-forget webhook POST (one retry); failures are logged, never block the call. */
  private announce(body: Record<string, unknown>): void {
    const url = this.opts.webhook
    if (!url || !this.webhookAgent) return
    const dispatcher = this.webhookAgent
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
