// Upstream connection pools: one undici Pool per (tool, origin), so keep-alive connections are
// reused per origin and each tool's destination rules and CA settings apply to its own
// connections only. Bounded: the least recently used pool is closed when the limit is reached.

import { readFileSync } from 'node:fs'
import { createSecureContext, rootCertificates } from 'node:tls'
import { isIP } from 'node:net'
import { Pool } from 'undici'
import { checkedLookup } from './lookup.ts'
import type { DestinationRules } from '../decide/destination.ts'

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
}

export interface ToolUpstream {
  name: string
  rules: DestinationRules
  /** Extra CA file for this tool only. */
  caFile: string | null
}

export class UpstreamPools {
  private readonly pools = new Map<string, Pool>()
  private readonly settings: PoolSettings
  private readonly baseCa: string[]

  constructor(settings: PoolSettings) {
    this.settings = settings
    // System roots plus configured CAs: setting `ca` replaces Node's default list, so include it.
    this.baseCa = [...rootCertificates, ...settings.extraCaFiles.map((f) => readFileSync(f, 'utf8'))]
  }

  get(tool: ToolUpstream, origin: string): Pool {
    const key = `${tool.name}\u0000${origin}`
    const existing = this.pools.get(key)
    if (existing) {
      // Map keeps insertion order: re-insert to mark as most recently used.
      this.pools.delete(key)
      this.pools.set(key, existing)
      return existing
    }
    if (this.pools.size >= this.settings.maxPools) {
      const [oldestKey, oldest] = this.pools.entries().next().value as [string, Pool]
      this.pools.delete(oldestKey)
      void oldest.close().catch(() => {})
    }
    const pool = this.create(tool, origin)
    this.pools.set(key, pool)
    return pool
  }

  /** Trusted CAs for a tool's upstream TLS: system roots, configured extras, the tool's own. */
  caFor(tool: ToolUpstream): string[] {
    return tool.caFile ? [...this.baseCa, readFileSync(tool.caFile, 'utf8')] : this.baseCa
  }

  get connectTimeoutMs(): number {
    return this.settings.connectTimeoutMs
  }

  private create(tool: ToolUpstream, origin: string): Pool {
    const s = this.settings
    // One SecureContext per pool: passing `ca` to every connect would parse the whole trust
    // store again for each new upstream connection.
    const secureContext = createSecureContext({ ca: this.caFor(tool), minVersion: 'TLSv1.2' })
    const host = new URL(origin).hostname.replace(/^\[|\]$/g, '')
    return new Pool(origin, {
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
        secureContext,
        // Servername must not be an IP literal (RFC 6066); for IP origins verification uses the IP SAN.
        ...(isIP(host) ? {} : { servername: host }),
        lookup: checkedLookup(tool.rules),
      },
    })
  }

  async close(): Promise<void> {
    const all = [...this.pools.values()]
    this.pools.clear()
    await Promise.all(all.map((p) => p.close().catch(() => {})))
  }

  async destroy(): Promise<void> {
    const all = [...this.pools.values()]
    this.pools.clear()
    await Promise.all(all.map((p) => p.destroy().catch(() => {})))
  }
}
