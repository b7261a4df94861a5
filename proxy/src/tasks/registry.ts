// The task registry: the open tasks of this sidecar. An agent opens a task (intent, declared
// tools, TTL), sends its id in the toolgate-task header, and the task goes into the policy input.
// A task ends when it is deleted or its TTL runs out; either way 'ended' is emitted once, which is
// what makes the credential broker drop and revoke the task's credentials. Bounded: at most
// maxTasks open tasks; ended tasks are forgotten at once (a later lookup is simply unknown).

import { EventEmitter } from 'node:events'
import { randomBytes } from 'node:crypto'
import { Gauge, type Registry } from 'prom-client'
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
}

export type TaskEndReason = 'deleted' | 'expired'

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

export type CreateResult = { ok: true; task: Task } | { ok: false; error: TaskError }

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
  private readonly sweeper: NodeJS.Timeout
  private readonly openGauge: Gauge | null

  constructor(opts: TaskRegistryOptions) {
    super()
    if (opts.defaultTtlS > opts.maxTtlS) throw new Error('tasks.default_ttl_s exceeds tasks.max_ttl_s')
    this.opts = { now: Date.now, sweepMs: 1000, ...opts }
    this.openGauge = opts.registry
      ? new Gauge({ name: 'toolgate_tasks_open', help: 'Tasks currently open.', registers: [opts.registry] })
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
    if (this.tasks.size >= this.opts.maxTasks) {
      return { ok: false, error: { status: 429, error: 'too_many_tasks', reason: `at most ${this.opts.maxTasks} tasks may be open at once` } }
    }
    const now = this.opts.now()
    const task: Task = {
      id: `tsk_${randomBytes(16).toString('base64url')}`,
      intent: v.value.intent,
      declaredTools: v.value.tools,
      startedAt: now,
      expiresAt: now + v.value.ttlS * 1000,
      calls: 0,
      ended: false,
    }
    this.tasks.set(task.id, task)
    this.openGauge?.set(this.tasks.size)
    return { ok: true, task }
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
    this.openGauge?.set(this.tasks.size)
    this.emit('ended', task, reason)
    return true
  }

  countCall(id: string): void {
    const task = this.get(id)
    if (task) task.calls += 1
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
    }
  }

  get size(): number {
    return this.tasks.size
  }

  /** Ends every expired task (emitting 'ended' for each). */
  sweep(): void {
    const now = this.opts.now()
    for (const task of [...this.tasks.values()]) if (task.expiresAt <= now) this.end(task.id, 'expired')
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
  }
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
