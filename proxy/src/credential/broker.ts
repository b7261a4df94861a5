// The credential broker: gives an allowed call the credential of its tool, for its task.
//
// - Cache per (provider, task, tool, audience, resource, scope, policy TTL), LRU-bounded. An entry
//   is served until its expiry minus a skew and refreshed in the background from 80% of its life.
// - Concurrent obtain() calls for one key share one fetch (singleflight).
// - No credential outlives its task: the expiry handed out is min(issuer expiry, task end, policy
//   TTL), and when the task ends (deleted or expired) its entries are dropped and revoked at the
//   issuer where the provider supports RFC 7009.
// - A slow or failing provider answers 503 within the provider's timeout_ms (retries included);
//   a failure is held for failureHoldMs so a down IdP is not hammered by every call.
// - Records every issuance and revocation (with the decision ids served), never the secret.
//
// Calls without a task share entries under task '-' and live as long as the issuer says (static
// secrets and tokens without expires_in: DEFAULT_LIFETIME_MS, then re-read/re-fetched).

import { randomUUID } from 'node:crypto'
import type { Registry } from 'prom-client'
import type { CredentialProvider, ToolCredential } from '../config/schema.gen.ts'
import type { CredentialNarrowing } from '../decide/decision.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import type { Logger } from '../record/log.ts'
import type { Task, TaskEndReason, TaskRegistry } from '../tasks/registry.ts'
import type { Credential } from './credential.ts'
import { CredentialMetrics } from './credential-metrics.ts'
import { injectCredential, renderTemplate } from './inject.ts'
import { buildProvider, type BuiltProvider } from './providers/build.ts'
import { ProviderError, type IssuedToken, type RevokeResult } from './providers/provider.ts'
import type { JWK } from 'jose'

export const DEFAULT_LIFETIME_MS = 300_000
export const DEFAULT_FETCH_TIMEOUT_MS = 5000
const MAX_SKEW_MS = 30_000
const REFRESH_AT = 0.8
const MAX_DECISION_IDS = 1000
const MAX_RECORDED_DECISION_IDS = 200
const REVOKE_TIMEOUT_MS = 5000

export interface ObtainRequest {
  decisionId: string
  task: Task | null
  tool: string
  toolCredential: ToolCredential
  narrowing: CredentialNarrowing | null
  agent: PolicyInput['agent']
  signal?: AbortSignal
}

export type ObtainResult = { ok: true; credential: Credential } | { ok: false; status: 503; reason: string }

export interface RecordWriter {
  write(rec: Record<string, unknown>): void
}

export interface BrokerOptions {
  providers: Record<string, CredentialProvider>
  configDir: string
  registry: Registry
  logger: Logger
  records: RecordWriter
  tasks: TaskRegistry | null
  now?: () => number
  /** LRU bound on cached credentials (default 10000). */
  maxEntries?: number
  /** How long a failed fetch is answered from memory before trying again (default 1000 ms). */
  failureHoldMs?: number
  /** TCP connect timeout to token endpoints (default 2000 ms). */
  connectTimeoutMs?: number
}

interface Issued {
  issuanceId: string
  token: IssuedToken
  issuedAt: number
  expiresAt: number
}

interface Entry {
  key: string
  providerName: string
  provider: BuiltProvider
  taskId: string | null
  tool: string
  current: Issued
  /** The issuance a refresh replaced: still valid at the issuer, revoked with the entry. */
  previous: Issued | null
  decisionIds: string[]
  decisionCount: number
  refreshing: boolean
}

interface Shape {
  audience: string | null
  resource: string | null
  scopes: string[]
  notAfter: number | null
}

interface Inflight {
  promise: Promise<Entry>
  waiters: string[]
  abort: AbortController
  taskId: string | null
}

export class CredentialBroker {
  private providers = new Map<string, BuiltProvider>()
  private readonly cache = new Map<string, Entry>()
  private readonly byTask = new Map<string, Set<string>>()
  private readonly inflight = new Map<string, Inflight>()
  private readonly failures = new Map<string, { until: number; reason: string }>()
  private readonly metrics: CredentialMetrics
  private readonly logger: Logger
  private readonly records: RecordWriter
  private readonly tasks: TaskRegistry | null
  private readonly now: () => number
  private readonly maxEntries: number
  private readonly failureHoldMs: number
  private readonly connectTimeoutMs: number
  private readonly pendingRevocations = new Set<Promise<void>>()
  private readonly revoking = new Map<string, Promise<void>>()
  private readonly onTaskEnded = (task: Task, reason: TaskEndReason): void => {
    this.track(this.revokeTask(task.id, reason === 'expired' ? 'task_expired' : 'task_deleted'))
  }
  private closed = false

  constructor(opts: BrokerOptions) {
    this.metrics = new CredentialMetrics(opts.registry)
    this.logger = opts.logger
    this.records = opts.records
    this.tasks = opts.tasks
    this.now = opts.now ?? Date.now
    this.maxEntries = opts.maxEntries ?? 10_000
    this.failureHoldMs = opts.failureHoldMs ?? 1000
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2000
    this.update(opts.providers, opts.configDir)
    this.tasks?.on('ended', this.onTaskEnded)
  }

  /** Creates the JWT signing keys up front, so the JWKS is complete before the first token. */
  async init(): Promise<void> {
    for (const p of this.providers.values()) if (p.jwtKeys) await p.jwtKeys.init()
  }

  async obtain(req: ObtainRequest): Promise<ObtainResult> {
    const name = req.toolCredential.provider
    const provider = this.providers.get(name)
    if (this.closed) return refuse('credential broker is shut down')
    if (!provider) return refuse(`credential provider "${name}" is not configured`)
    if (provider.error !== null) return refuse(`credential provider "${name}" is misconfigured: ${provider.error}`)
    if (req.task?.ended) return refuse(`task ${req.task.id} has ended`)

    const shaped = this.shape(req)
    if (!shaped.ok) return refuse(shaped.reason)
    const shape = shaped.shape
    const key = JSON.stringify([name, req.task?.id ?? '-', req.tool, shape.audience, shape.resource, shape.scopes, req.narrowing?.ttl_s ?? null])

    const now = this.now()
    const cached = this.cache.get(key)
    if (cached && cached.provider === provider && this.usable(cached.current, now) && (await this.isCurrent(cached))) {
      this.touch(cached)
      this.served(cached, req.decisionId)
      this.metrics.cacheHits.inc({ provider: name })
      if (now >= refreshAt(cached.current) && !cached.refreshing) this.refresh(cached, req, shape)
      return this.credential(cached, req.toolCredential)
    }

    const failed = this.failures.get(key)
    if (failed && failed.until > now) return refuse(failed.reason)

    let flight = this.inflight.get(key)
    if (flight) this.metrics.cacheHits.inc({ provider: name })
    else flight = this.startFetch(key, name, provider, req, shape)
    flight.waiters.push(req.decisionId)

    const timeoutMs = provider.timeoutMs
    const outcome = await raceDeadline(flight.promise, timeoutMs + 100, req.signal)
    if (outcome.kind === 'timeout') return refuse(`credential provider "${name}" did not answer within ${timeoutMs} ms`)
    if (outcome.kind === 'aborted') return refuse('the call was cancelled while waiting for its credential')
    if (outcome.kind === 'error') return refuse(`credential provider "${name}" failed: ${outcome.message}`)
    const entry = outcome.value
    if (!entry.decisionIds.includes(req.decisionId)) this.served(entry, req.decisionId)
    return this.credential(entry, req.toolCredential)
  }

  /** Header rewrite for the pipeline (CredentialService.inject). */
  inject(headers: [string, string][], credential: Credential): [string, string][] {
    return injectCredential(headers, credential)
  }

  /**
   * Drops every credential of the task and revokes what can be revoked at the issuer. Calls
   * while one is under way for the same task share it (the 'ended' event and DELETE both call).
   */
  revokeTask(taskId: string, reason: string = 'task_deleted'): Promise<void> {
    const running = this.revoking.get(taskId)
    if (running) return running
    const p = this.revokeTaskNow(taskId, reason).finally(() => this.revoking.delete(taskId))
    this.revoking.set(taskId, p)
    return p
  }

  private async revokeTaskNow(taskId: string, reason: string): Promise<void> {
    for (const [key, f] of this.inflight) {
      if (f.taskId === taskId) {
        f.abort.abort()
        this.inflight.delete(key)
      }
    }
    const keys = this.byTask.get(taskId)
    this.byTask.delete(taskId)
    if (!keys) return
    const entries: Entry[] = []
    for (const key of keys) {
      const e = this.cache.get(key)
      if (e) {
        this.cache.delete(key)
        entries.push(e)
      }
    }
    this.metrics.cacheEntries.set(this.cache.size)
    await Promise.all(entries.map((e) => this.retire(e, reason)))
  }

  /** Applies a reloaded config: changed or removed providers drop (and revoke) their entries. */
  update(providers: Record<string, CredentialProvider>, configDir: string): void {
    const next = new Map<string, BuiltProvider>()
    const replaced: BuiltProvider[] = []
    for (const [name, config] of Object.entries(providers)) {
      const fingerprint = JSON.stringify([config, configDir])
      const old = this.providers.get(name)
      if (old && old.fingerprint === fingerprint) {
        next.set(name, old)
        continue
      }
      next.set(name, buildProvider(name, config, configDir, fingerprint, {
        now: this.now,
        connectTimeoutMs: this.connectTimeoutMs,
        onRetry: () => this.metrics.retries.inc({ provider: name }),
      }))
      if (old) replaced.push(old)
    }
    for (const [name, old] of this.providers) if (!next.has(name)) replaced.push(old)
    this.providers = next
    this.failures.clear()
    if (replaced.length === 0) return
    const gone = new Set(replaced)
    for (const e of [...this.cache.values()]) {
      if (gone.has(e.provider)) {
        this.drop(e)
        this.track(this.retire(e, 'config_reload'))
      }
    }
    for (const p of replaced) this.track(p.impl?.close() ?? Promise.resolve())
  }

  /** JWKS of every jwt provider (served on the admin listener). */
  jwks(): { keys: JWK[] } {
    const keys: JWK[] = []
    for (const p of this.providers.values()) if (p.jwtKeys) keys.push(...p.jwtKeys.jwks().keys)
    return { keys }
  }

  /** Revokes everything still cached (best effort, bounded) and releases connections. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    this.tasks?.off('ended', this.onTaskEnded)
    for (const f of this.inflight.values()) f.abort.abort()
    this.inflight.clear()
    const entries = [...this.cache.values()]
    this.cache.clear()
    this.byTask.clear()
    this.metrics.cacheEntries.set(0)
    await Promise.all(entries.map((e) => this.retire(e, 'shutdown')))
    await Promise.all([...this.pendingRevocations])
    await Promise.all([...this.providers.values()].map((p) => p.impl?.close() ?? Promise.resolve()))
  }

  // --- internals -------------------------------------------------------------------------------

  private shape(req: ObtainRequest): { ok: true; shape: Shape } | { ok: false; reason: string } {
    const tc = req.toolCredential
    const provider = this.providers.get(tc.provider)
    let scopes = [...new Set(tc.scopes ?? provider?.defaultScopes ?? [])].sort()
    const n = req.narrowing
    if (n?.scope) {
      // The policy may narrow, never widen: with configured scopes, only those it names remain.
      const asked = new Set(n.scope)
      scopes = scopes.length > 0 ? scopes.filter((s) => asked.has(s)) : [...asked].sort()
      if (scopes.length === 0) return { ok: false, reason: 'the policy narrowed the credential to no scope the tool is configured for' }
    }
    let notAfter: number | null = req.task ? req.task.expiresAt : null
    if (n?.ttl_s !== undefined) {
      const limit = this.now() + n.ttl_s * 1000
      notAfter = notAfter === null ? limit : Math.min(notAfter, limit)
    }
    return { ok: true, shape: { audience: n?.audience ?? tc.audience ?? null, resource: tc.resource ?? null, scopes, notAfter } }
  }

  private usable(issued: Issued, now: number): boolean {
    return now < issued.expiresAt - skew(issued)
  }

  private async isCurrent(e: Entry): Promise<boolean> {
    const check = e.provider.impl?.isCurrent
    return check ? check.call(e.provider.impl, e.current.token) : true
  }

  private startFetch(key: string, name: string, provider: BuiltProvider, req: ObtainRequest, shape: Shape): Inflight {
    const abort = new AbortController()
    const flight: Inflight = { promise: null as unknown as Promise<Entry>, waiters: [], abort, taskId: req.task?.id ?? null }
    flight.promise = this.fetch(name, provider, req, shape, abort.signal).then((issued) => {
      if (this.inflight.get(key) === flight) this.inflight.delete(key)
      const entry: Entry = {
        key,
        providerName: name,
        provider,
        taskId: req.task?.id ?? null,
        tool: req.tool,
        current: issued,
        previous: null,
        decisionIds: [...flight.waiters].slice(0, MAX_DECISION_IDS),
        decisionCount: flight.waiters.length,
        refreshing: false,
      }
      this.recordIssued(entry, issued, flight.waiters, shape)
      // The task ended while we were fetching: never cache it, revoke at once.
      if (abort.signal.aborted || req.task?.ended || this.closed) {
        this.track(this.retire(entry, 'task_ended_during_fetch'))
        throw new ProviderError('rejected', 'the task ended while its credential was being fetched', false)
      }
      const old = this.cache.get(key)
      if (old) {
        this.drop(old)
        this.retireExpired(old)
      }
      this.put(entry)
      return entry
    }, (err: unknown) => {
      if (this.inflight.get(key) === flight) this.inflight.delete(key)
      const message = err instanceof ProviderError ? err.message : 'unexpected provider error'
      if (!(err instanceof ProviderError)) this.logger.error('credential provider failed unexpectedly', { provider: name, error: (err as Error).name })
      this.failures.set(key, { until: this.now() + this.failureHoldMs, reason: `credential provider "${name}" failed: ${message}` })
      if (this.failures.size > this.maxEntries) this.failures.delete(this.failures.keys().next().value as string)
      throw new ProviderError(err instanceof ProviderError ? err.kind : 'unavailable', message, false)
    })
    // A fetch nobody waits for any more (everyone timed out) must not surface as unhandled.
    flight.promise.catch(() => {})
    this.inflight.set(key, flight)
    return flight
  }

  /** One provider fetch bounded by the provider's timeout; returns the issuance with its effective expiry. */
  private async fetch(name: string, provider: BuiltProvider, req: ObtainRequest, shape: Shape, cancel: AbortSignal): Promise<Issued> {
    const impl = provider.impl!
    const started = process.hrtime.bigint()
    const signal = AbortSignal.any([cancel, AbortSignal.timeout(provider.timeoutMs)])
    try {
      const token = await impl.issue({
        tool: req.tool,
        audience: shape.audience,
        resource: shape.resource,
        scopes: shape.scopes,
        notAfter: shape.notAfter,
        agent: req.agent,
        taskId: req.task?.id ?? null,
        signal,
      })
      const now = this.now()
      let expiresAt = token.expiresAt ?? now + DEFAULT_LIFETIME_MS
      if (shape.notAfter !== null) expiresAt = Math.min(expiresAt, shape.notAfter)
      this.metrics.fetches.inc({ provider: name, result: 'success' })
      return { issuanceId: `iss_${randomUUID()}`, token, issuedAt: now, expiresAt }
    } catch (err) {
      const kind = err instanceof ProviderError ? err.kind : 'unavailable'
      this.metrics.fetches.inc({ provider: name, result: signal.aborted && !cancel.aborted ? 'timeout' : kind })
      this.logger.warn('credential fetch failed', { provider: name, tool: req.tool, error: err instanceof ProviderError ? err.message : 'unexpected error' })
      throw err
    } finally {
      this.metrics.fetchSeconds.observe({ provider: name }, Number(process.hrtime.bigint() - started) / 1e9)
    }
  }

  /** Background refresh before expiry: the old issuance keeps serving until the new one lands. */
  private refresh(entry: Entry, req: ObtainRequest, shape: Shape): void {
    entry.refreshing = true
    // shape was computed for this call, so its notAfter (task end, policy TTL) is current.
    const refreshShape = shape
    this.fetch(entry.providerName, entry.provider, req, refreshShape, new AbortController().signal).then((issued) => {
      entry.refreshing = false
      this.recordIssued(entry, issued, [], refreshShape)
      if (this.cache.get(entry.key) !== entry || (req.task?.ended ?? false)) {
        this.track(this.retire({ ...entry, current: issued, previous: null, decisionIds: [], decisionCount: 0 }, 'task_ended_during_fetch'))
        return
      }
      entry.previous = entry.current
      entry.current = issued
    }, () => {
      entry.refreshing = false
    })
  }

  private credential(entry: Entry, tc: ToolCredential): ObtainResult {
    const value = renderTemplate(tc.template, entry.current.token.token)
    // A secret with a line break or control character would split the header: refuse it.
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return refuse(`credential provider "${entry.providerName}" produced a value that cannot be sent in a header`)
    return {
      ok: true,
      credential: {
        provider: entry.providerName,
        issuanceId: entry.current.issuanceId,
        expiresAt: entry.current.expiresAt,
        header: tc.header ?? 'Authorization',
        value,
      },
    }
  }

  private served(entry: Entry, decisionId: string): void {
    entry.decisionCount += 1
    if (entry.decisionIds.length < MAX_DECISION_IDS) entry.decisionIds.push(decisionId)
  }

  private put(entry: Entry): void {
    this.cache.set(entry.key, entry)
    if (entry.taskId !== null) {
      let set = this.byTask.get(entry.taskId)
      if (!set) this.byTask.set(entry.taskId, (set = new Set()))
      set.add(entry.key)
    }
    while (this.cache.size > this.maxEntries) {
      const oldest = this.cache.values().next().value as Entry
      this.drop(oldest)
      this.track(this.retire(oldest, 'evicted'))
    }
    this.metrics.cacheEntries.set(this.cache.size)
  }

  /** Moves an entry to the most recently used end of the LRU order. */
  private touch(entry: Entry): void {
    this.cache.delete(entry.key)
    this.cache.set(entry.key, entry)
  }

  private drop(entry: Entry): void {
    if (this.cache.get(entry.key) === entry) this.cache.delete(entry.key)
    if (entry.taskId !== null) this.byTask.get(entry.taskId)?.delete(entry.key)
    this.metrics.cacheEntries.set(this.cache.size)
  }

  /** An entry replaced after its expiry: nothing to revoke, but the record closes its story. */
  private retireExpired(entry: Entry): void {
    const now = this.now()
    const live = [entry.current, entry.previous].filter((i): i is Issued => i !== null && (i.token.expiresAt ?? Infinity) > now)
    if (live.length > 0) {
      this.track(this.retire(entry, 'replaced'))
      return
    }
    this.records.write({
      type: 'credential_expired',
      time: new Date(now).toISOString(),
      provider: entry.providerName,
      issuance_id: entry.current.issuanceId,
      task: entry.taskId,
      tool: entry.tool,
      decision_ids: entry.decisionIds.slice(0, MAX_RECORDED_DECISION_IDS),
      decision_count: entry.decisionCount,
    })
  }

  /** Revokes every issuance of the entry that may still be valid at the issuer, and records it. */
  private async retire(entry: Entry, reason: string): Promise<void> {
    const issuances = [entry.current, entry.previous].filter((i): i is Issued => i !== null)
    await Promise.all(issuances.map(async (issued) => {
      const impl = entry.provider.impl
      let result: RevokeResult | 'expired' = 'not_supported'
      if ((issued.token.expiresAt ?? Infinity) <= this.now()) result = 'expired'
      else if (impl) result = await impl.revoke(issued.token, AbortSignal.timeout(REVOKE_TIMEOUT_MS)).catch((): RevokeResult => 'failed')
      if (result !== 'expired') this.metrics.revocations.inc({ provider: entry.providerName, result })
      if (result === 'failed') this.logger.warn('credential revocation failed', { provider: entry.providerName, issuance_id: issued.issuanceId })
      this.records.write({
        type: 'credential_revoked',
        time: new Date(this.now()).toISOString(),
        provider: entry.providerName,
        issuance_id: issued.issuanceId,
        expires_at: new Date(issued.expiresAt).toISOString(),
        task: entry.taskId,
        tool: entry.tool,
        reason,
        result,
        decision_ids: issued === entry.current ? entry.decisionIds.slice(0, MAX_RECORDED_DECISION_IDS) : [],
        decision_count: issued === entry.current ? entry.decisionCount : 0,
      })
    }))
  }

  private recordIssued(entry: Entry, issued: Issued, waiters: string[], shape: Shape): void {
    this.records.write({
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
      decision_ids: waiters.slice(0, MAX_RECORDED_DECISION_IDS),
      decision_count: waiters.length,
    })
  }

  /** Keeps background revocations reachable so close() can wait for them. */
  private track(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => {
      this.logger.error('credential retirement failed', { error: (err as Error).name })
    }).finally(() => this.pendingRevocations.delete(tracked))
    this.pendingRevocations.add(tracked)
  }
}

function refuse(reason: string): { ok: false; status: 503; reason: string } {
  return { ok: false, status: 503, reason }
}

function skew(i: Issued): number {
  return Math.min(MAX_SKEW_MS, (i.expiresAt - i.issuedAt) * 0.1)
}

function refreshAt(i: Issued): number {
  return i.issuedAt + (i.expiresAt - i.issuedAt) * REFRESH_AT
}

type Raced<T> = { kind: 'value'; value: T } | { kind: 'error'; message: string } | { kind: 'timeout' } | { kind: 'aborted' }

/** Waits for p, but never longer than ms nor past the caller's abort. */
function raceDeadline<T>(p: Promise<T>, ms: number, signal?: AbortSignal): Promise<Raced<T>> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve({ kind: 'aborted' })
    const timer = setTimeout(() => finish({ kind: 'timeout' }), ms)
    const onAbort = (): void => finish({ kind: 'aborted' })
    signal?.addEventListener('abort', onAbort, { once: true })
    let done = false
    function finish(r: Raced<T>): void {
      if (done) return
      done = true
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      resolve(r)
    }
    p.then((value) => finish({ kind: 'value', value }), (err: unknown) => finish({ kind: 'error', message: err instanceof Error ? err.message : 'failed' }))
  })
}
