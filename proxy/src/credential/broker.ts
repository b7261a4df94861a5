// The credential broker: gives an allowed call the credential of its tool, for its task. It
// composes the pieces that each own one concern:
//
//   decide/credential-narrowing.ts  what the credential may carry (scopes, audience, lifetime)
//   cache.ts                         lru-cache of credentials; one fetch per key; refresh; drops
//   lifecycle.ts                     revocation (RFC 7009), typed records, task end
//   inject.ts                        the header the upstream request carries
//   providers/                       the issuers (static, OAuth2 via oauth4webapi, jwt)
//
// What it owns itself: the providers of the current config, one provider fetch with its deadline
// and metrics, and the brief memory of failed fetches (a down IdP is not hammered by every call).
// No credential outlives its task: the expiry handed out is min(issuer expiry, task end, policy
// TTL); a task's end drops and revokes its credentials. Calls without a task share entries under
// task '-' and live as long as the issuer says (DEFAULT_LIFETIME_MS when it does not say).

import { randomUUID } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import type { Registry } from 'prom-client'
import type { JWK } from 'jose'
import type { CredentialProvider, ToolCredential } from '../config/schema.gen.ts'
import { narrowCredential, type CredentialShape } from '../decide/credential-narrowing.ts'
import type { CredentialNarrowing } from '../decide/decision.ts'
import type { PolicyInput } from '../decide/policy-input.ts'
import type { Logger } from '../record/log.ts'
import type { Task, TaskRegistry } from '../tasks/registry.ts'
import { CredentialCache, type Waiters } from './cache.ts'
import type { Credential } from './credential.ts'
import { CredentialMetrics } from './credential-metrics.ts'
import { refreshDue, served, servedAll, usable, type CacheEntry, type Issued } from './entry.ts'
import { injectCredential, renderCredential } from './inject.ts'
import { CredentialLifecycle } from './lifecycle.ts'
import { buildProvider, type BuiltProvider } from './providers/build.ts'
import { ProviderError } from './providers/provider.ts'
import type { RecordWriter, RetireReason } from './records.ts'

export type { RecordWriter } from './records.ts'

export const DEFAULT_LIFETIME_MS = 300_000
export const DEFAULT_FETCH_TIMEOUT_MS = 5000

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

/** What one fetch needs (lru-cache's fetch context: the first caller's request). */
interface FetchContext {
  taskId: string | null
  /** A refresh while the current issuance still serves (it is carried, not replaced). */
  background: boolean
  name: string
  provider: BuiltProvider
  req: ObtainRequest
  shape: CredentialShape
}

export class CredentialBroker {
  private providers = new Map<string, BuiltProvider>()
  private readonly cache: CredentialCache<FetchContext>
  private readonly lifecycle: CredentialLifecycle
  private readonly failures: LRUCache<string, { until: number; reason: string }>
  private readonly metrics: CredentialMetrics
  private readonly logger: Logger
  private readonly now: () => number
  private readonly failureHoldMs: number
  private readonly connectTimeoutMs: number
  private readonly revoking = new Map<string, Promise<void>>()
  private closed = false

  constructor(opts: BrokerOptions) {
    this.logger = opts.logger
    this.now = opts.now ?? Date.now
    const maxEntries = opts.maxEntries ?? 10_000
    this.failureHoldMs = opts.failureHoldMs ?? 1000
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 2000
    this.metrics = new CredentialMetrics(opts.registry, () => this.cache.size)
    this.lifecycle = new CredentialLifecycle({ records: opts.records, metrics: this.metrics, logger: this.logger, now: this.now })
    this.cache = new CredentialCache<FetchContext>({
      max: maxEntries,
      load: (key, ctx, stale, signal, waiters) => this.load(key, ctx, stale, signal, waiters),
      retire: (entry, reason) => this.lifecycle.retire(entry, reason),
      replaced: (entry) => this.lifecycle.replaced(entry),
    })
    this.failures = new LRUCache({ max: maxEntries })
    this.update(opts.providers, opts.configDir)
    if (opts.tasks) this.lifecycle.watchTasks(opts.tasks, (id, reason) => this.revokeTask(id, reason))
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

    const now = this.now()
    const tc = req.toolCredential
    const narrowed = narrowCredential({
      configuredScopes: tc.scopes ?? provider.defaultScopes,
      audience: tc.audience ?? null,
      resource: tc.resource ?? null,
      narrowing: req.narrowing,
      taskExpiresAt: req.task ? req.task.expiresAt : null,
      now,
    })
    if (!narrowed.ok) return refuse(narrowed.reason)
    const shape = narrowed.shape
    const key = JSON.stringify([name, req.task?.id ?? '-', req.tool, shape.audience, shape.resource, shape.scopes, req.narrowing?.ttl_s ?? null])
    const ctx: FetchContext = { taskId: req.task?.id ?? null, background: false, name, provider, req, shape }

    const cached = this.cache.get(key)
    if (cached && cached.provider === provider && usable(cached.current, now) && (await isCurrent(cached))) {
      if (req.task?.ended) return refuse(`task ${req.task.id} has ended`)
      served(cached.current, req.decisionId)
      this.metrics.cacheHits.inc({ provider: name })
      // A refresh that failed is not retried by every call: the failure hold applies here too.
      if (refreshDue(cached.current, now) && !((this.failures.get(key)?.until ?? 0) > now)) this.cache.refresh(key, { ...ctx, background: true })
      return this.render(tc, cached.current, cached)
    }

    const failed = this.failures.get(key)
    if (failed && failed.until > now) return refuse(failed.reason)
    if (this.cache.fetching(key)) this.metrics.cacheHits.inc({ provider: name })

    const timeoutMs = provider.timeoutMs
    const outcome = await raceDeadline(this.cache.fetch(key, ctx, req.decisionId), timeoutMs + 100, req.signal)
    if (outcome.kind === 'timeout') return refuse(`credential provider "${name}" did not answer within ${timeoutMs} ms`)
    if (outcome.kind === 'aborted') return refuse('the call was cancelled while waiting for its credential')
    if (req.task?.ended) return refuse(`task ${req.task.id} has ended`)
    if (outcome.kind === 'error') return refuse(`credential provider "${name}" failed: ${outcome.message}`)
    return this.render(tc, outcome.value.current, outcome.value)
  }

  /** Header rewrite for the pipeline (CredentialService.inject). */
  inject(headers: [string, string][], credential: Credential): [string, string][] {
    return injectCredential(headers, credential)
  }

  /**
   * Drops every credential of the task (and aborts its fetches) and revokes what can be revoked
   * at the issuer. Resolves when the revocations are done. Calls while one is under way for the
   * same task share it (the 'ended' event and DELETE both call).
   */
  revokeTask(taskId: string, reason: RetireReason = 'task_deleted'): Promise<void> {
    const running = this.revoking.get(taskId)
    if (running) return running
    const p = this.cache.dropTask(taskId, reason).finally(() => this.revoking.delete(taskId))
    this.revoking.set(taskId, p)
    return p
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
    const dropped = this.cache.dropWhere((e) => gone.has(e.provider), 'config_reload')
    // Connections close once their revocations are done.
    void dropped.then(() => this.lifecycle.settle()).then(() => Promise.all(replaced.map((p) => p.impl?.close()))).catch(() => {})
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
    this.lifecycle.close()
    await this.cache.clear('shutdown')
    await this.lifecycle.settle()
    await Promise.all([...this.providers.values()].map((p) => p.impl?.close() ?? Promise.resolve()))
  }

  // --- internals -------------------------------------------------------------------------------

  /** lru-cache's fetchMethod (through CredentialCache): one provider fetch → the new entry. */
  private async load(key: string, ctx: FetchContext, stale: CacheEntry | undefined, cancel: AbortSignal, waiters: Waiters): Promise<CacheEntry> {
    const { name, provider, req, shape } = ctx
    let issued: Issued
    try {
      issued = await this.issue(ctx, cancel)
    } catch (err) {
      const message = err instanceof ProviderError ? err.message : 'unexpected provider error'
      if (!(err instanceof ProviderError)) this.logger.error('credential provider failed unexpectedly', { provider: name, error: (err as Error).name })
      if (!cancel.aborted) this.failures.set(key, { until: this.now() + this.failureHoldMs, reason: `credential provider "${name}" failed: ${message}` })
      throw new ProviderError(err instanceof ProviderError ? err.kind : 'unavailable', message, false)
    }
    servedAll(issued, waiters.ids, waiters.count)
    // A background refresh while the old issuance is still served: the old one stays valid at the
    // issuer (calls under way use it) and is revoked with this entry.
    const carry = ctx.background && stale !== undefined && stale.provider === provider && usable(stale.current, issued.issuedAt)
    const entry: CacheEntry = { key, providerName: name, provider, taskId: ctx.taskId, tool: req.tool, shape, current: issued, previous: carry ? stale.current : null }
    this.lifecycle.issued(entry, issued, shape)
    // The task ended (or the broker closed) while we were fetching: never cache it, revoke at once.
    if (req.task?.ended || this.closed) {
      await this.lifecycle.retire({ ...entry, previous: null }, this.closed ? 'shutdown' : 'task_ended_during_fetch')
      throw new ProviderError('rejected', this.closed ? 'the broker shut down while the credential was being fetched' : 'the task ended while its credential was being fetched', false)
    }
    return entry
  }

  /** One provider fetch bounded by the provider's timeout; the issuance with its effective expiry. */
  private async issue(ctx: FetchContext, cancel: AbortSignal): Promise<Issued> {
    const { name, provider, req, shape } = ctx
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
      return { issuanceId: `iss_${randomUUID()}`, token, issuedAt: now, expiresAt, decisionIds: [], decisionCount: 0, retired: false, carried: false }
    } catch (err) {
      const kind = err instanceof ProviderError ? err.kind : 'unavailable'
      this.metrics.fetches.inc({ provider: name, result: signal.aborted && !cancel.aborted ? 'timeout' : kind })
      this.logger.warn('credential fetch failed', { provider: name, tool: req.tool, error: err instanceof ProviderError ? err.message : 'unexpected error' })
      throw err
    } finally {
      this.metrics.fetchSeconds.observe({ provider: name }, Number(process.hrtime.bigint() - started) / 1e9)
    }
  }

  private render(tc: ToolCredential, issued: Issued, entry: CacheEntry): ObtainResult {
    const r = renderCredential(tc, { provider: entry.providerName, issuanceId: issued.issuanceId, expiresAt: issued.expiresAt, token: issued.token.token })
    return r.ok ? r : refuse(r.reason)
  }
}

/** False when the entry no longer reflects its source (a rotated secret file). */
async function isCurrent(e: CacheEntry): Promise<boolean> {
  const check = e.provider.impl?.isCurrent
  return check ? check.call(e.provider.impl, e.current.token) : true
}

function refuse(reason: string): { ok: false; status: 503; reason: string } {
  return { ok: false, status: 503, reason }
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
