// Task grants: signed JWTs following the IETF OAuth Transaction Tokens draft
// (draft-ietf-oauth-transaction-tokens), issued by the platform component that handed the agent
// its work, presented by the agent in the Txn-Token header (or registered on the control API).
// A grant opens (or names) a task only when:
//   - it verifies against a configured issuer (trust/verify.ts: signature, alg, exp, nbf),
//   - its header typ is txntoken+jwt (so an ID or access token of the same issuer is no grant),
//   - aud is this trust domain (tasks.audience) and sub is this agent's workload identity
//     (SPIFFE ID, or system:serviceaccount:<ns>:<sa>): a grant for another pod is refused here,
//   - it carries txn, iat, exp and tctx {intent, tools[, limits.max_calls]}, every tool is in the
//     config, and its lifetime is within the issuer's max_ttl_s;
//   - when it names a pod (tctx.pod), that is this agent's pod: sub names a ServiceAccount, which
//     every replica of a Deployment shares, so only tctx.pod keeps a grant for one replica (whose
//     task its issuer ends there) from opening a task in another.
// The task's lifetime (exp), declared tools and limits come from the grant.

import { createHash } from 'node:crypto'
import type { JWTPayload } from 'jose'
import { LRUCache } from 'lru-cache'
import type { Counter, Registry } from 'prom-client'
import { counter } from '../record/metric-table.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import { MAX_DECLARED_TOOLS, MAX_INTENT_CHARS, type Task, type TaskRegistry } from '../tasks/registry.ts'
import { CLOCK_TOLERANCE_S, quote, verifyJwt, type TrustedIssuer } from './verify.ts'
import type { RecordWriter } from '../record/record-types.ts'

export const TXN_TOKEN_TYP = 'txntoken+jwt'
const TOOL_NAME = /^[a-z0-9][a-z0-9_-]{0,63}(\/[A-Za-z0-9_.:-]{1,128})?$/
const TXN = /^[\x21-\x7e]{1,256}$/

export interface GrantIssuer extends TrustedIssuer {
  maxTasks: number
  maxTtlS: number
}

export interface TaskGrantsOptions {
  issuers: () => readonly GrantIssuer[]
  /** tasks.audience: this trust domain. */
  audience: () => string | null
  tasks: TaskRegistry
  knownTools: () => ReadonlySet<string>
  agent: () => PolicyInput['agent']
  /** Where toolgate_task_grants_total is registered (optional). */
  registry?: Registry
  /** Decision-record sink: a task_opened record links the task id to its grant (issuer, txn, sub, req_wl). */
  records?: RecordWriter
}

/**
 * Grants verified recently, by sha256 of the whole token: a hit skips the signature check (about
 * 0.1 ms) while the task is open and the grant unexpired. Bounded, short-lived (a withdrawn key
 * stops verifying within VERIFIED_TTL_MS) and cleared when the trust settings change.
 */
const VERIFIED_MAX = 1000
const VERIFIED_TTL_MS = 60_000

export type GrantOutcome = { ok: true; task: Task; opened: boolean } | { ok: false; reason: string }

/** The identities a grant's sub may name for this agent (SPIFFE ID and/or the ServiceAccount username). */
export function workloadIdentities(agent: PolicyInput['agent']): string[] {
  const ids: string[] = []
  if (agent.spiffe_id) ids.push(agent.spiffe_id)
  if (agent.namespace && agent.service_account) ids.push(`system:serviceaccount:${agent.namespace}:${agent.service_account}`)
  return ids
}

export class TaskGrants {
  private readonly o: TaskGrantsOptions
  private readonly counter: Counter<'issuer' | 'result'> | null
  private readonly verified = new LRUCache<string, { taskId: string; expiresAt: number }>({ max: VERIFIED_MAX, ttl: VERIFIED_TTL_MS })

  constructor(o: TaskGrantsOptions) {
    this.o = o
    // Labels are bounded: configured issuer names (or "unknown") and three results.
    this.counter = o.registry
      ? counter(o.registry, 'toolgate_task_grants_total')
      : null
  }

  /** Forgets verified grants (the issuers, audience, tools or identity may have changed). */
  clear(): void {
    this.verified.clear()
  }

  /** Verifies a grant and returns its task (opening it on first sight). Never throws. */
  async resolve(token: string): Promise<GrantOutcome> {
    const key = createHash('sha256').update(token).digest('base64url')
    const hit = this.verified.get(key)
    if (hit && hit.expiresAt > Date.now()) {
      const task = this.o.tasks.get(hit.taskId)
      if (task) {
        this.counter?.inc({ issuer: task.issuer ?? 'unknown', result: 'used' })
        return { ok: true, task, opened: false }
      }
    }
    this.verified.delete(key)
    const r = await this.verify(token)
    if (r.ok) this.verified.set(key, { taskId: r.task.id, expiresAt: r.task.expiresAt })
    return r
  }

  private async verify(token: string): Promise<GrantOutcome> {
    const issuers = this.o.issuers()
    const audience = this.o.audience()
    if (issuers.length === 0 || audience === null) return { ok: false, reason: 'task grant refused: no task issuers are configured (tasks.issuers, tasks.audience)' }
    const v = await verifyJwt(token, issuers, { what: 'task grant', audience, typ: TXN_TOKEN_TYP, requiredClaims: ['txn', 'sub', 'aud'] })
    if (!v.ok) {
      this.counter?.inc({ issuer: 'unknown', result: 'refused' })
      return v
    }
    const issuer = v.issuer as GrantIssuer
    const claims = this.claims(v.payload, issuer)
    if (!claims.ok) {
      this.counter?.inc({ issuer: issuer.name, result: 'refused' })
      return { ok: false, reason: `task grant refused: ${claims.reason}` }
    }
    const r = this.o.tasks.openGrant({ issuer: issuer.name, maxTasks: issuer.maxTasks, ...claims.value })
    this.counter?.inc({ issuer: issuer.name, result: r.ok ? (r.opened ? 'opened' : 'used') : 'refused' })
    if (r.ok && r.opened) {
      const task = r.task
      this.o.records?.write({
        type: 'task_opened', time: new Date(task.startedAt).toISOString(), task: task.id, source: task.source, issuer: task.issuer,
        txn: task.txn, subject: task.subject, requester: task.requester, tools: task.declaredTools, expires_at: new Date(task.expiresAt).toISOString(),
      })
    }
    return r.ok ? { ok: true, task: r.task, opened: r.opened } : { ok: false, reason: `task grant refused: ${r.reason}` }
  }

  private claims(p: JWTPayload, issuer: GrantIssuer): { ok: true; value: { txn: string; subject: string; requester: string | null; intent: string; tools: string[]; maxCalls: number | null; expiresAt: number } } | { ok: false; reason: string } {
    const bad = (reason: string): { ok: false; reason: string } => ({ ok: false, reason })
    const txn = p['txn']
    if (typeof txn !== 'string' || !TXN.test(txn)) return bad('txn must be 1-256 printable characters')
    const sub = p.sub!
    const ids = workloadIdentities(this.o.agent())
    if (ids.length === 0) return bad('this sidecar knows no workload identity to bind grants to (agent.spiffe_id, or agent.namespace and agent.service_account)')
    if (!ids.includes(sub)) return bad(`sub ${quote(sub)} is another workload (this agent is ${ids.map((i) => quote(i)).join(' or ')})`)
    const lifetime = p.exp! - p.iat!
    if (lifetime > issuer.maxTtlS) return bad(`lifetime ${lifetime} s (exp - iat) exceeds ${issuer.maxTtlS} s allowed for issuer ${issuer.name}`)
    // iat in the future would let a lifetime within max_ttl_s still end far away.
    const nowS = Math.floor(Date.now() / 1000)
    if (p.iat! > nowS + CLOCK_TOLERANCE_S) return bad(`issued in the future (iat ${new Date(p.iat! * 1000).toISOString()})`)
    const tctx = p['tctx']
    if (tctx === null || typeof tctx !== 'object' || Array.isArray(tctx)) return bad('the tctx claim (intent, tools) is missing')
    const c = tctx as Record<string, unknown>
    const pod = c['pod']
    if (pod !== undefined) {
      if (typeof pod !== 'string') return bad('tctx.pod must be a string (the pod the grant is for)')
      const mine = this.o.agent().pod
      if (!mine) return bad(`the grant is for pod ${quote(pod)} and this sidecar does not know its pod (agent.pod)`)
      if (pod !== mine) return bad(`tctx.pod ${quote(pod)} is another pod (this agent is ${quote(mine)})`)
    }
    if (typeof c['intent'] !== 'string' || c['intent'].trim() === '') return bad('tctx.intent must be a non-empty string')
    if (c['intent'].length > MAX_INTENT_CHARS) return bad(`tctx.intent is longer than ${MAX_INTENT_CHARS} characters`)
    const tools = c['tools']
    if (!Array.isArray(tools) || tools.length === 0) return bad('tctx.tools must be a non-empty array of tool names')
    if (tools.length > MAX_DECLARED_TOOLS) return bad(`tctx.tools names more than ${MAX_DECLARED_TOOLS} tools`)
    const known = this.o.knownTools()
    for (const t of tools) {
      if (typeof t !== 'string' || !TOOL_NAME.test(t)) return bad(`tctx.tools holds ${quote(t)}, which is not a tool name`)
      const base = t.split('/')[0]!
      if (!known.has(base)) return bad(`tctx.tools names ${quote(t)}, which is not a tool in this config`)
    }
    if (new Set(tools).size !== tools.length) return bad('tctx.tools lists a tool twice')
    let maxCalls: number | null = null
    const limits = c['limits']
    if (limits !== undefined) {
      if (limits === null || typeof limits !== 'object' || Array.isArray(limits)) return bad('tctx.limits must be an object')
      const m = (limits as Record<string, unknown>)['max_calls']
      if (m !== undefined) {
        if (typeof m !== 'number' || !Number.isInteger(m) || m < 1 || m > 1_000_000) return bad('tctx.limits.max_calls must be an integer from 1 to 1000000')
        maxCalls = m
      }
    }
    const reqWl = p['req_wl']
    if (reqWl !== undefined && (typeof reqWl !== 'string' || reqWl.length > 512)) return bad('req_wl must be a string')
    return { ok: true, value: { txn, subject: sub, requester: typeof reqWl === 'string' ? reqWl : null, intent: c['intent'], tools: tools as string[], maxCalls, expiresAt: p.exp! * 1000 } }
  }
}
