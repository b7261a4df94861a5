// Upstream connection pools: one undici Pool per (tool, origin), so keep-alive connections are
// reused per origin and each tool's destination rules and CA settings apply to its own
// connections only.
//
// Bounded three ways, because a '*.domain' tool lets the agent name any number of origins (each
// distinct hostname used to cost a pool plus a TLS context holding the whole root store, ~0.85 MB,
// so 1,100 names took 1 GB): pools live in an LRU of at most maxPools entries, a pool unused for
// poolIdleMs is closed, and the TLS context is shared: one per trust configuration (system roots
// plus configured CAs, plus the tool's own ca_file when it has one), not one per pool, and the
// same trust configuration shares one context across reloads. A closed
// pool finishes its in-flight requests first (undici's close is graceful).

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext, rootCertificates, type SecureContext } from 'node:tls'
import { isIP } from 'node:net'
import { LRUCache } from 'lru-cache'
import { Pool } from 'undici'
import { checkedLookup } from './lookup.ts'
import type { DestinationRules } from '../decide/destination.ts'
import { trackLive } from '../telemetry/live-objects.ts'

export interface PoolSettings {
  connectTimeoutMs: number
  headersTimeoutMs: number
  bodyTimeoutMs: number
  keepAliveMs: number
  connectionsPerOrigin: number
  maxResponseHeaderBytes: number
  /** Extra CA files (PEM) trusted besides the system roots. */
  extraCaFiles: readonly string[]
  maxPools: number
  /** A pool not used for this long is closed (default 30 s). */
  poolIdleMs?: number
}

export interface ToolUpstream {
  name: string
  rules: DestinationRules
  /** Extra CA file for this tool only. */
  caFile: string | null
}

const DEFAULT_POOL_IDLE_MS = 30_000

/**
 * TLS contexts shared across pool sets, by the sha256 of their CA list. Each reload builds a new
 * pool set; without this each one built its own context holding the whole root store (~0.85 MB
 * of native memory that V8 does not see, so it lingered until some later full GC). A changed CA
 * file has a different hash and gets a new context. Bounded: the most recent few trust
 * configurations.
 */
const sharedContexts = new LRUCache<string, SecureContext>({ max: 16 })

function sharedContext(ca: string[]): SecureContext {
  const key = createHash('sha256').update(ca.join('\n')).digest('hex')
  let context = sharedContexts.get(key)
  if (!context) {
    context = createSecureContext({ ca, minVersion: 'TLSv1.2' })
    sharedContexts.set(key, context)
  }
  return context
}

export class UpstreamPools {
  private readonly pools: LRUCache<string, Pool>
  private readonly settings: PoolSettings
  private readonly baseCa: string[]
  /** One TLS context per trust configuration: key '' for the shared one, else the tool's ca_file. */
  private readonly contexts = new Map<string, { ca: string[]; context: SecureContext }>()
  private readonly sweeper: NodeJS.Timeout
  /** Set by close()/destroy(), which end every pool themselves. */
  private closing = false

  constructor(settings: PoolSettings) {
    this.settings = settings
    // System roots plus configured CAs: setting `ca` replaces Node's default list, so include it.
    this.baseCa = [...rootCertificates, ...settings.extraCaFiles.map((f) => readFileSync(f, 'utf8'))]
    const idle = settings.poolIdleMs ?? DEFAULT_POOL_IDLE_MS
    this.pools = new LRUCache<string, Pool>({
      max: settings.maxPools,
      ttl: idle,
      updateAgeOnGet: true,
      // Evicted (least recently used beyond maxPools) or expired: close, letting in-flight requests finish.
      dispose: (pool) => { if (!this.closing) void pool.close().catch(() => {}) },
    })
    // One sweep timer for all pools (rather than one timer per entry): expired pools are closed
    // even when no new request arrives to push them out.
    this.sweeper = setInterval(() => { this.pools.purgeStale() }, Math.max(1000, Math.min(idle, 10_000)))
    this.sweeper.unref()
    trackLive('pool_set', this)
  }

  get(tool: ToolUpstream, origin: string): Pool {
    const key = `${tool.name}\u0000${origin}`
    // A superseded set (closed by a reload) still serves the calls that were in flight when it
    // was replaced; a pool it creates for them is closed right after their request is queued
    // (undici's close lets queued requests finish), so nothing outlives those calls.
    if (this.closing) {
      const late = this.create(tool, origin)
      queueMicrotask(() => { void late.close().catch(() => {}) })
      return late
    }
    const existing = this.pools.get(key)
    if (existing) return existing
    const pool = this.create(tool, origin)
    this.pools.set(key, pool)
    return pool
  }

  /** Open pools (for tests and metrics). */
  get size(): number {
    return this.pools.size
  }

  /** Trusted CAs for a tool's upstream TLS: system roots, configured extras, the tool's own. */
  caFor(tool: ToolUpstream): string[] {
    return this.trust(tool).ca
  }

  /** The shared TLS context for a tool's trust configuration (created once, then reused). */
  secureContextFor(tool: ToolUpstream): SecureContext {
    return this.trust(tool).context
  }

  get connectTimeoutMs(): number {
    return this.settings.connectTimeoutMs
  }

  private trust(tool: ToolUpstream): { ca: string[]; context: SecureContext } {
    const key = tool.caFile ?? ''
    let t = this.contexts.get(key)
    if (!t) {
      const ca = tool.caFile ? [...this.baseCa, readFileSync(tool.caFile, 'utf8')] : this.baseCa
      t = { ca, context: sharedContext(ca) }
      this.contexts.set(key, t)
    }
    return t
  }

  private create(tool: ToolUpstream, origin: string): Pool {
    const s = this.settings
    const url = new URL(origin)
    const host = url.hostname.replace(/^\[|\]$/g, '')
    return trackLive('upstream_pool', new Pool(origin, {
      connections: s.connectionsPerOrigin,
      connectTimeout: s.connectTimeoutMs,
      headersTimeout: s.headersTimeoutMs,
      bodyTimeout: s.bodyTimeoutMs,
      keepAliveTimeout: s.keepAliveMs,
      maxHeaderSize: s.maxResponseHeaderBytes,
      allowH2: false,
      connect: {
        // Upstream TLS is always verified; nothing below TLS 1.2.
        rejectUnauthorized: true,
        minVersion: 'TLSv1.2',
        // Only https origins need (and so create) the shared context.
        ...(url.protocol === 'https:' ? { secureContext: this.secureContextFor(tool) } : {}),
        // Servername must not be an IP literal (RFC 6066); for IP origins verification uses the IP SAN.
        ...(isIP(host) ? {} : { servername: host }),
        lookup: checkedLookup(tool.rules),
      },
    }))
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper)
    this.closing = true
    const all = [...this.pools.values()]
    this.pools.clear()
    await Promise.all(all.map((p) => p.close().catch(() => {})))
  }

  async destroy(): Promise<void> {
    clearInterval(this.sweeper)
    this.closing = true
    const all = [...this.pools.values()]
    this.pools.clear()
    await Promise.all(all.map((p) => p.destroy().catch(() => {})))
  }
}
