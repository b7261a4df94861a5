// The task registry: the open tasks of this sidecar. A task comes from a verified task grant
// (source "issuer": trust/grants.ts opens it with openGrant) or, only when the operator allows it,
// from the agent itself (source "agent": create). Calls name it by Txn-Token or toolgate-task
// header, and it goes into the policy input. A task ends when its owner deletes it or its TTL
// runs out; either way 'ended' is emitted once, which is what makes the credential broker drop
// and revoke the task's credentials. Bounded: each issuer has its own quota of open tasks, agent
// tasks share maxTasks; an ended grant's transaction is remembered until the grant expires (so the
// same grant cannot reopen it), at most MAX_ENDED_GRANTS of them.

import { EventEmitter } from 'node:events'
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Gauge, Registry } from 'prom-client'
import { gauge } from '../record/metric-table.ts'
import type { PolicyInput } from '../decide/policy-input.ts'

export interface Task {
  id: string
  intent: string
  declaredTools: string[]
  /** Epoch milliseconds. */
  startedAt: number
  /** Epoch milliseconds. */
  expiresAt: number
  calls: number
  ended: boolean
  /** "issuer": opened by a verified grant; "agent": declared by the agent (unsigned). */
  source: 'issuer' | 'agent'
  /** Config name of the issuer whose grant opened it (null for agent tasks). */
  issuer: string | null
  /** The grant's txn, sub and req_wl (null for agent tasks). */
  txn: string | null
  subject: string | null
  requester: string | null
  /** Call budget from the grant's tctx.limits.max_calls (null: the policy's default). */
  maxCalls: number | null
  /** sha256 of the owner token handed to the agent that declared it (agent tasks only). */
  ownerTokenHash: Buffer | null
}

/** A verified grant, as trust/grants.ts hands it over. */
export interface GrantTask {
  issuer: string
  /** This issuer's quota of open tasks. */
  maxTasks: number
  txn: string
  subject: string
  requester: string | null
  intent: string
  tools: string[]
  maxCalls: number | null
  /** Epoch milliseconds (the grant's exp). */
  expiresAt: number
}

export type GrantResult = { ok: true; task: Task; opened: boolean } | { ok: false; reason: string }

/** Ended grants remembered (until their exp) so that presenting one again cannot reopen its task. */
export const MAX_ENDED_GRANTS = 10_000

/** deleted: by its owner; expired: TTL or grant exp; revoked: the trust that opened it was withdrawn (reload). */
export type TaskEndReason = 'deleted' | 'expired' | 'revoked'

export interface TaskInput {
  intent: string
  tools: string[]
  ttl_s?: number
}

/** Why a task could not be created: status is the HTTP status the admin API answers with. */
export interface TaskError {
  status: 400 | 429
  error: 'invalid_task' | 'too_many_tasks'
  reason: string
}

export type CreateResult = { ok: true; task: Task; ownerToken: string } | { ok: false; error: TaskError }

export interface TaskRegistryOptions {
  defaultTtlS: number
  maxTtlS: number
  maxTasks: number
  now?: () => number
  /** Where toolgate_tasks_open is registered (optional). */
  registry?: Registry
  /** How often expired tasks are swept (ms, default 1000). Lookups check expiry on their own. */
  sweepMs?: number
}

export const MAX_INTENT_CHARS = 2000
export const MAX_DECLARED_TOOLS = 100
const TOOL_NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/

export class TaskRegistry extends EventEmitter<{ ended: [task: Task, reason: TaskEndReason] }> {
  private readonly opts: Required<Omit<TaskRegistryOptions, 'registry'>>
  private readonly tasks = new Map<string, Task>()
  /** Open grant tasks by issuer + txn. */
  private readonly byTxn = new Map<string, Task>()
  /** Ended grants: issuer + txn → the grant's expiry (epoch ms). */
  private readonly endedGrants = new Map<string, number>()
  private readonly sweeper: NodeJS.Timeout
  private readonly openGauge: Gauge | null

  constructor(opts: TaskRegistryOptions) {
    super()
    if (opts.defaultTtlS > opts.maxTtlS) throw new Error('tasks.default_ttl_s exceeds tasks.max_ttl_s')
    this.opts = { now: Date.now, sweepMs: 1000, ...opts }
    this.openGauge = opts.registry
      ? gauge(opts.registry, 'toolgate_tasks_open')
      : null
    this.sweeper = setInterval(() => this.sweep(), this.opts.sweepMs)
    this.sweeper.unref()
  }

  /** Bounds from a reloaded config: they apply to tasks created from now on. */
  setLimits(limits: { defaultTtlS: number; maxTtlS: number; maxTasks: number }): void {
    Object.assign(this.opts, limits)
  }

  /** Validates the input (as it came from the admin API; tools must be among knownTools when given) and opens a task. */
  create(input: unknown, opts: { knownTools?: ReadonlySet<string> } = {}): CreateResult {
    const v = validateTaskInput(input, this.opts.defaultTtlS, this.opts.maxTtlS)
    if (!v.ok) return v
    const unknown = opts.knownTools ? v.value.tools.filter((t) => !opts.knownTools!.has(t)) : []
    if (unknown.length > 0) return invalid(`unknown tool(s): ${unknown.slice(0, 10).join(', ')}`) as CreateResult
    this.sweep()
    if (this.countSource('agent', null) >= this.opts.maxTasks) {
      return { ok: false, error: { status: 429, error: 'too_many_tasks', reason: `at most ${this.opts.maxTasks} agent-declared tasks may be open at once` } }
    }
    const now = this.opts.now()
    const ownerToken = `tgo_${randomBytes(32).toString('base64url')}`
    const task: Task = {
      id: newTaskId(),
      intent: v.value.intent,
      declaredTools: v.value.tools,
      startedAt: now,
      expiresAt: now + v.value.ttlS * 1000,
      calls: 0,
      ended: false,
      source: 'agent',
      issuer: null,
      txn: null,
      subject: null,
      requester: null,
      maxCalls: null,
      ownerTokenHash: sha256(ownerToken),
    }
    this.tasks.set(task.id, task)
    this.openGauge?.set(this.tasks.size)
    return { ok: true, task, ownerToken }
  }

  /**
   * The task of a verified grant: the open one for its issuer + txn, or a new one within the
   * issuer's quota. A grant whose task has ended (deleted or expired) cannot reopen it, and a
   * second grant for an open transaction must declare the same tools and subject.
   */
  openGrant(g: GrantTask): GrantResult {
    const key = `${g.issuer}\u0000${g.txn}`
    const now = this.opts.now()
    const open = this.byTxn.get(key)
    if (open && this.get(open.id)) {
      if (open.subject !== g.subject || open.declaredTools.join('\u0000') !== g.tools.join('\u0000') || open.intent !== g.intent) {
        return { ok: false, reason: `transaction ${g.txn.slice(0, 80)} of issuer ${g.issuer} already has an open task with another subject, intent or tools` }
      }
      return { ok: true, task: open, opened: false }
    }
    this.sweep()
    const endedUntil = this.endedGrants.get(key)
    if (endedUntil !== undefined) {
      if (endedUntil > now) return { ok: false, reason: `the task of transaction ${g.txn.slice(0, 80)} (issuer ${g.issuer}) has ended; a new task needs a new grant` }
      this.endedGrants.delete(key)
    }
    if (g.expiresAt <= now) return { ok: false, reason: 'the grant has expired' }
    if (this.countSource('issuer', g.issuer) >= g.maxTasks) {
      return { ok: false, reason: `issuer ${g.issuer} has ${g.maxTasks} open tasks already (its quota, tasks.issuers[].max_tasks)` }
    }
    if (this.endedGrants.size >= MAX_ENDED_GRANTS) return { ok: false, reason: `too many ended grants are still unexpired (at most ${MAX_ENDED_GRANTS}); refusing new grants until some expire` }
    const task: Task = {
      id: newTaskId(),
      intent: g.intent,
      declaredTools: [...g.tools],
      startedAt: now,
      expiresAt: g.expiresAt,
      calls: 0,
      ended: false,
      source: 'issuer',
      issuer: g.issuer,
      txn: g.txn,
      subject: g.subject,
      requester: g.requester,
      maxCalls: g.maxCalls,
      ownerTokenHash: null,
    }
    this.tasks.set(task.id, task)
    this.byTxn.set(key, task)
    this.openGauge?.set(this.tasks.size)
    return { ok: true, task, opened: true }
  }

  /** True when token is the owner token handed out when this agent task was declared. */
  ownerMatches(task: Task, token: string): boolean {
    return task.ownerTokenHash !== null && timingSafeEqual(task.ownerTokenHash, sha256(token))
  }

  private countSource(source: Task['source'], issuer: string | null): number {
    let n = 0
    for (const t of this.tasks.values()) if (t.source === source && t.issuer === issuer) n++
    return n
  }

  /** The open task with this id; undefined when unknown, ended or expired. */
  get(id: string): Task | undefined {
    const task = this.tasks.get(id)
    if (!task) return undefined
    if (task.expiresAt <= this.opts.now()) {
      this.end(id, 'expired')
      return undefined
    }
    return task
  }

  end(id: string, reason: TaskEndReason): boolean {
    const task = this.tasks.get(id)
    if (!task) return false
    this.tasks.delete(id)
    task.ended = true
    if (task.source === 'issuer' && task.txn !== null && task.issuer !== null) {
      const key = `${task.issuer}\u0000${task.txn}`
      this.byTxn.delete(key)
      this.endedGrants.set(key, task.expiresAt)
    }
    this.openGauge?.set(this.tasks.size)
    this.emit('ended', task, reason)
    return true
  }

  /** Counts n calls of the task (an MCP batch of n tools/call messages is n calls). */
  /** Ends every open task the predicate picks (emitting 'ended' for each); returns how many. */
  endWhere(pick: (task: Task) => boolean, reason: TaskEndReason): number {
    let n = 0
    for (const task of [...this.tasks.values()]) if (pick(task) && this.end(task.id, reason)) n++
    return n
  }

  countCall(id: string, n = 1): void {
    const task = this.get(id)
    if (task) task.calls += n
  }

  policyView(task: Task | undefined): PolicyInput['task'] {
    if (!task) return null
    return {
      id: task.id,
      intent: task.intent,
      declared_tools: [...task.declaredTools],
      started_at: new Date(task.startedAt).toISOString(),
      expires_at: new Date(task.expiresAt).toISOString(),
      calls: task.calls,
      source: task.source,
      issuer: task.issuer,
      limits: { max_calls: task.maxCalls },
    }
  }

  get size(): number {
    return this.tasks.size
  }

  /** Ends every expired task (emitting 'ended' for each). */
  sweep(): void {
    const now = this.opts.now()
    for (const task of [...this.tasks.values()]) if (task.expiresAt <= now) this.end(task.id, 'expired')
    for (const [key, until] of this.endedGrants) if (until <= now) this.endedGrants.delete(key)
  }

  /** Stops the sweeper. Open tasks are not ended (the broker's close() drops what it holds). */
  close(): void {
    clearInterval(this.sweeper)
  }
}

/** Public JSON view of a task (admin API). */
export function taskView(task: Task): Record<string, unknown> {
  return {
    id: task.id,
    intent: task.intent,
    tools: [...task.declaredTools],
    started_at: new Date(task.startedAt).toISOString(),
    expires_at: new Date(task.expiresAt).toISOString(),
    calls: task.calls,
    ended: task.ended,
    source: task.source,
    ...(task.source === 'issuer' ? { issuer: task.issuer, txn: task.txn, subject: task.subject, requester: task.requester, limits: { max_calls: task.maxCalls } } : {}),
  }
}

function newTaskId(): string {
  return `tsk_${randomBytes(16).toString('base64url')}`
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

type Validated = { ok: true; value: { intent: string; tools: string[]; ttlS: number } } | { ok: false; error: TaskError }

function invalid(reason: string): Validated {
  return { ok: false, error: { status: 400, error: 'invalid_task', reason } }
}

export function validateTaskInput(input: unknown, defaultTtlS: number, maxTtlS: number): Validated {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return invalid('body must be a JSON object')
  const o = input as Record<string, unknown>
  for (const key of Object.keys(o)) {
    if (key !== 'intent' && key !== 'tools' && key !== 'ttl_s') return invalid(`unknown field "${key.slice(0, 64)}" (expected intent, tools, ttl_s)`)
  }
  if (typeof o.intent !== 'string' || o.intent.trim() === '') return invalid('intent must be a non-empty string')
  if (o.intent.length > MAX_INTENT_CHARS) return invalid(`intent must be at most ${MAX_INTENT_CHARS} characters`)
  if (!Array.isArray(o.tools)) return invalid('tools must be an array of tool names')
  if (o.tools.length > MAX_DECLARED_TOOLS) return invalid(`tools may name at most ${MAX_DECLARED_TOOLS} tools`)
  const tools: string[] = []
  for (const t of o.tools) {
    if (typeof t !== 'string' || !TOOL_NAME.test(t)) return invalid('each tool must be a tool name (lower-case letters, digits, "-" and "_")')
    if (tools.includes(t)) return invalid(`tool "${t}" is listed twice`)
    tools.push(t)
  }
  let ttlS = defaultTtlS
  if (o.ttl_s !== undefined) {
    if (typeof o.ttl_s !== 'number' || !Number.isInteger(o.ttl_s) || o.ttl_s < 1) return invalid('ttl_s must be a positive integer (seconds)')
    if (o.ttl_s > maxTtlS) return invalid(`ttl_s must be at most ${maxTtlS} (tasks.max_ttl_s)`)
    ttlS = o.ttl_s
  }
  return { ok: true, value: { intent: o.intent, tools, ttlS } }
}
