// The in-process policy engine: loads an OPA WASM bundle (embedded, file, or bundle server),
// keeps it fresh (file: watched and re-checked; http: polled with ETag, backoff and jitter),
// and evaluates one PolicyInput per allowlisted call, synchronously.
//
// Fail closed, always: start() never throws for a bad or missing bundle; the engine stays
// unready and every evaluation returns ok:false with the reason. A new bundle is built and
// checked completely (archive, signature, manifest and roots, WASM, entrypoint, builtins, data)
// before it replaces the active one in a single assignment, so an evaluation sees either the
// old or the new policy; a bad new bundle keeps the last good one (logged and counted).

import { createHash } from 'node:crypto'
import { readFileSync, watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import { basename, dirname } from 'node:path'
import type { Registry } from 'prom-client'
import type { Logger } from '../../record/log.ts'
import type { PolicyInput, PolicyResult } from '../policy-input.ts'
import type { BundleSource } from '../../config/resolved.ts'
import { DEFAULT_ARCHIVE_LIMITS, readArchive } from './bundle-archive.ts'
import type { ArchiveLimits } from './bundle-archive.ts'
import { verifyBundleSignature } from './bundle-signature.ts'
import type { BundleSigning } from './bundle-signature.ts'
import { parseBundle } from './bundle.ts'
import { EMBEDDED_BUNDLE_PATH, HttpBundleClient, readBundleFile } from './bundle-fetch.ts'
import { DEFAULT_MAX_MEMORY_PAGES, instantiatePolicy } from './wasm-policy.ts'
import type { WasmPolicy } from './wasm-policy.ts'
import { policyMetrics, revisionLabel } from './policy-metrics.ts'
import type { PolicyMetrics } from './policy-metrics.ts'
import { validatePolicyResult } from './result.ts'
import { registerPolicyMemoryMetric } from '../../telemetry/memory-metrics.ts'

export type { BundleSource } from '../../config/resolved.ts'
export type { BundleSigning } from './bundle-signature.ts'

export interface PollDelays {
  minDelayMs: number
  maxDelayMs: number
}

export interface PolicyEngineOptions {
  source: BundleSource
  /** Entrypoint path, e.g. toolgate/decision. */
  entrypoint: string
  /** When set, bundles must carry a valid .signatures.json made with this key. */
  signing?: BundleSigning
  /** How often file/http sources are re-checked (jittered between the two); the config's snake_case form is accepted too. */
  poll?: PollDelays | { min_delay_ms: number; max_delay_ms: number }
  /** Merged under data.toolgate_config (policy.data in toolgate.yaml). */
  extraData?: Record<string, unknown>
  registry: Registry
  logger: Logger
  /** PEM CA file trusted for an https bundle server. */
  caFile?: string
  /** Upper bound of the WASM linear memory, in 64 KiB pages (default 1024 = 64 MiB). */
  maxMemoryPages?: number
  archiveLimits?: ArchiveLimits
  /** Timeout of one bundle download (default 10 s). */
  fetchTimeoutMs?: number
}

export type PolicyEvaluation =
  | { ok: true; result: PolicyResult; revision: string }
  | { ok: false; error: string; revision: string | null }

interface ActiveBundle {
  policy: WasmPolicy
  revision: string
  /** sha256 of the archive bytes: an identical download is "unchanged". */
  archiveHash: string
}

const DEFAULT_POLL: PollDelays = { minDelayMs: 10_000, maxDelayMs: 30_000 }
const RETRY_BASE_MS = 100
const WATCH_DEBOUNCE_MS = 50
const MAX_ERROR_LENGTH = 300

/** What a loaded bundle depends on (not the poll cadence, registry or logger), hashed. */
function loadFingerprint(o: PolicyEngineOptions): string {
  const signing = o.signing ? { ...o.signing, publicKeyPem: createHash('sha256').update(o.signing.publicKeyPem).digest('hex') } : null
  return createHash('sha256').update(JSON.stringify([o.source, o.entrypoint, signing, o.extraData ?? null, o.caFile ?? null, o.maxMemoryPages ?? null, o.archiveLimits ?? null, o.fetchTimeoutMs ?? null])).digest('hex')
}

function pollDelays(p: PolicyEngineOptions['poll']): PollDelays {
  if (p === undefined) return DEFAULT_POLL
  const d = 'minDelayMs' in p ? p : { minDelayMs: p.min_delay_ms, maxDelayMs: p.max_delay_ms }
  return { minDelayMs: Math.max(1, d.minDelayMs), maxDelayMs: Math.max(d.minDelayMs, d.maxDelayMs) }
}

function message(err: unknown): string {
  const m = err instanceof Error ? err.message : typeof err === 'string' ? err : String((err as { message?: unknown })?.message ?? err)
  return m.length > MAX_ERROR_LENGTH ? `${m.slice(0, MAX_ERROR_LENGTH)}...` : m
}

/**
 * time.now_ns() for this evaluation: input.time.now_ns exactly as the module reads it from the
 * input's JSON text (String(n) is the same shortest round-trip digits JSON.stringify writes), not
 * the double's binary value, which can differ in the last digits for ns since the epoch.
 */
function evaluationInstant(input: PolicyInput): bigint {
  const ns = input?.time?.now_ns
  if (typeof ns === 'number' && Number.isInteger(ns) && Math.abs(ns) < 1e21) return BigInt(String(ns))
  return BigInt(Date.now()) * 1_000_000n
}

export class PolicyEngine {
  #opts: PolicyEngineOptions
  readonly #metrics: PolicyMetrics
  #active: ActiveBundle | null = null
  #lastError: string | null = null
  #etag: string | null = null
  #http: HttpBundleClient | null = null
  #failures = 0
  #timer: NodeJS.Timeout | null = null
  #watcher: FSWatcher | null = null
  #debounce: NodeJS.Timeout | null = null
  #queue: Promise<unknown> = Promise.resolve()
  #closed = false

  private constructor(opts: PolicyEngineOptions) {
    this.#opts = opts
    this.#metrics = policyMetrics(opts.registry)
    this.#metrics.ready.set(0)
    registerPolicyMemoryMetric(opts.registry, { activePolicy: () => (this.#active ? { revision: this.#active.revision, bytes: this.#active.policy.memoryBytes() } : null) }, revisionLabel)
  }

  /** Loads the bundle once and starts watching/polling. Never throws for a bad or missing bundle. */
  static async start(opts: PolicyEngineOptions): Promise<PolicyEngine> {
    const engine = new PolicyEngine(opts)
    engine.#http = engine.#httpClient()
    await engine.#enqueue(() => engine.#loadOnce(false))
    engine.#schedule()
    return engine
  }

  get revision(): string | null {
    return this.#active?.revision ?? null
  }

  readiness(): { ready: boolean; reason: string | null } {
    if (this.#active) return { ready: true, reason: null }
    return { ready: false, reason: `no policy bundle loaded (every call is denied): ${this.#lastError ?? 'not loaded yet'}` }
  }

  /** Size of the active module's linear memory (bytes), for monitoring and the memory test. */
  wasmMemoryBytes(): number {
    return this.#active?.policy.memoryBytes() ?? 0
  }

  /**
   * The entrypoint's raw result set ([] when undefined, [{result}] otherwise), without the
   * PolicyResult checks: for tools and tests that inspect other entrypoints. Throws when there is
   * no bundle or the evaluation fails.
   */
  evaluateRaw(input: unknown): unknown {
    const active = this.#active
    if (!active) throw new Error(this.readiness().reason as string)
    return active.policy.evaluate(input, evaluationInstant(input as PolicyInput))
  }

  evaluate(input: PolicyInput): PolicyEvaluation {
    const active = this.#active
    if (!active) return { ok: false, error: this.readiness().reason as string, revision: null }
    let resultSet: unknown
    try {
      resultSet = active.policy.evaluate(input, evaluationInstant(input))
    } catch (err) {
      this.#metrics.evaluationErrors.inc()
      return { ok: false, error: `policy evaluation failed: ${message(err)}`, revision: active.revision }
    }
    const checked = validatePolicyResult(resultSet)
    if (!checked.ok) {
      this.#metrics.evaluationErrors.inc()
      return { ok: false, error: checked.error, revision: active.revision }
    }
    return { ok: true, result: checked.result, revision: active.revision }
  }

  /**
   * Loads again now, optionally with changed options (source, signing, entrypoint, data...).
   * True when a good bundle from the (new) source is active afterwards. On failure the last good
   * bundle and the previous options stay in force.
   */
  async reload(opts: Partial<PolicyEngineOptions> = {}): Promise<boolean> {
    if (this.#closed) return false
    const prev = this.#opts
    // A config reload passes the policy options every time; only a change in what a loaded
    // bundle depends on forces a new instance. Otherwise the bundle is re-read and instantiated
    // only if its bytes changed, so a config reload no longer builds (and leaves for the GC) a
    // new WASM instance and memory when nothing about the policy changed.
    const changed = Object.keys(opts).length > 0 && loadFingerprint({ ...prev, ...opts }) !== loadFingerprint(prev)
    const sourceChanged = opts.source !== undefined && JSON.stringify(opts.source) !== JSON.stringify(prev.source)
    const prevHttp = this.#http
    const prevEtag = this.#etag
    this.#opts = { ...prev, ...opts }
    if (sourceChanged || opts.caFile !== undefined) {
      this.#http = this.#httpClient()
      this.#etag = null
    }
    const ok = await this.#enqueue(() => this.#loadOnce(changed))
    if (!ok && changed) {
      if (this.#http !== prevHttp) await this.#http?.close()
      this.#opts = prev
      this.#http = prevHttp
      this.#etag = prevEtag
    } else if (this.#http !== prevHttp) {
      await prevHttp?.close()
    }
    this.#schedule()
    return ok
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#stopSchedule()
    await this.#queue.catch(() => {})
    await this.#http?.close()
    this.#http = null
  }

  // ---- loading

  #enqueue(job: () => Promise<boolean>): Promise<boolean> {
    const run = this.#queue.then(job, job)
    this.#queue = run.catch(() => {})
    return run
  }

  #httpClient(): HttpBundleClient | null {
    const src = this.#opts.source
    if (src.kind !== 'http') return null
    let ca: string | undefined
    if (this.#opts.caFile !== undefined) {
      try {
        ca = readFileSync(this.#opts.caFile, 'utf8')
      } catch (err) {
        this.#opts.logger.error('policy bundle CA file cannot be read', { file: this.#opts.caFile, error: message(err) })
      }
    }
    const limits = this.#opts.archiveLimits ?? DEFAULT_ARCHIVE_LIMITS
    return new HttpBundleClient({ url: src.url, ...(ca !== undefined ? { ca } : {}), timeoutMs: this.#opts.fetchTimeoutMs ?? 10_000, maxBytes: limits.maxArchiveBytes })
  }

  /** One load attempt. Never throws; true when a good bundle from the current source is active. */
  async #loadOnce(force: boolean): Promise<boolean> {
    if (this.#closed) return false
    const opts = this.#opts
    const kind = opts.source.kind
    const limits = opts.archiveLimits ?? DEFAULT_ARCHIVE_LIMITS
    const log = opts.logger
    try {
      let bytes: Buffer
      let etag: string | null = null
      if (opts.source.kind === 'http') {
        if (!this.#http) throw new Error('bundle server client is not configured')
        const outcome = await this.#http.fetch(force || !this.#active ? null : this.#etag)
        if (outcome.kind === 'unchanged') {
          this.#succeeded(kind, 'unchanged')
          return true
        }
        bytes = outcome.bytes
        etag = outcome.etag
      } else {
        bytes = await readBundleFile(opts.source.kind === 'file' ? opts.source.path : EMBEDDED_BUNDLE_PATH, limits.maxArchiveBytes)
      }
      const archiveHash = createHash('sha256').update(bytes).digest('hex')
      if (!force && this.#active?.archiveHash === archiveHash) {
        this.#etag = etag ?? this.#etag
        this.#succeeded(kind, 'unchanged')
        return true
      }
      const files = await readArchive(bytes, limits)
      if (opts.signing) await verifyBundleSignature(files, opts.signing)
      const parsed = parseBundle(files)
      if (parsed.manifest.revision === '') parsed.manifest.revision = `sha256:${archiveHash.slice(0, 16)}`
      const policy = await instantiatePolicy(parsed, opts.entrypoint, opts.extraData, opts.maxMemoryPages ?? DEFAULT_MAX_MEMORY_PAGES)
      if (this.#closed) return false
      const previous = this.#active?.revision ?? null
      this.#active = { policy, revision: parsed.manifest.revision, archiveHash } // the atomic swap
      this.#etag = etag
      this.#lastError = null
      this.#metrics.revision.reset()
      this.#metrics.revision.set({ revision: revisionLabel(policy.revision) }, 1)
      this.#metrics.lastSuccess.set(Date.now() / 1000)
      this.#succeeded(kind, 'success')
      log.info('policy bundle loaded', { source: kind, revision: policy.revision, previous_revision: previous })
      return true
    } catch (err) {
      const msg = message(err)
      this.#lastError = msg
      this.#failures++
      this.#metrics.loads.inc({ source: kind, result: 'failure' })
      this.#metrics.ready.set(this.#active ? 1 : 0)
      if (this.#active) log.warn('policy bundle rejected; keeping the last good one', { source: kind, error: msg, revision: this.#active.revision })
      else log.error('policy bundle could not be loaded; denying every call', { source: kind, error: msg })
      return false
    }
  }

  #succeeded(kind: string, result: 'success' | 'unchanged'): void {
    this.#failures = 0
    this.#metrics.loads.inc({ source: kind, result })
    this.#metrics.ready.set(this.#active ? 1 : 0)
  }

  // ---- scheduling: file watch + periodic re-check, http polling with backoff and jitter

  #stopSchedule(): void {
    if (this.#timer) clearTimeout(this.#timer)
    if (this.#debounce) clearTimeout(this.#debounce)
    this.#watcher?.close()
    this.#timer = this.#debounce = this.#watcher = null
  }

  #nextDelay(): number {
    const { minDelayMs, maxDelayMs } = pollDelays(this.#opts.poll)
    if (this.#failures === 0) return minDelayMs + Math.random() * (maxDelayMs - minDelayMs)
    // Exponential backoff from RETRY_BASE_MS, capped at maxDelayMs, with +/-20% jitter.
    const backoff = Math.min(maxDelayMs, RETRY_BASE_MS * 2 ** Math.min(this.#failures - 1, 30))
    return Math.min(maxDelayMs, backoff * (0.8 + Math.random() * 0.4))
  }

  #schedule(): void {
    this.#stopSchedule()
    if (this.#closed) return
    const src = this.#opts.source
    if (src.kind === 'embedded') return
    if (src.kind === 'file') this.#watchFile(src.path)
    const tick = (): void => {
      this.#timer = null
      void this.#enqueue(() => this.#loadOnce(false)).then(() => {
        if (!this.#closed && this.#timer === null) this.#timer = setTimeout(tick, this.#nextDelay()).unref()
      })
    }
    this.#timer = setTimeout(tick, this.#nextDelay()).unref()
  }

  /** Reacts quickly to a changed file (including an atomic rename into place); the periodic check is the safety net. */
  #watchFile(path: string): void {
    try {
      const name = basename(path)
      this.#watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
        if (file !== null && file !== name) return
        if (this.#debounce) clearTimeout(this.#debounce)
        this.#debounce = setTimeout(() => {
          this.#debounce = null
          void this.#enqueue(() => this.#loadOnce(false))
        }, WATCH_DEBOUNCE_MS).unref()
      })
      this.#watcher.on('error', () => {
        this.#watcher?.close()
        this.#watcher = null
      })
    } catch {
      this.#watcher = null // directory missing: the periodic check still runs
    }
  }
}
