// Prometheus metrics of the credential broker, registered on the registry it is given. Labels
// are provider names and outcomes from config (bounded), never tokens, tasks or tools' secrets.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

export class CredentialMetrics {
  readonly fetches: Counter<'provider' | 'result'>
  readonly cacheHits: Counter<'provider'>
  readonly fetchSeconds: Histogram<'provider'>
  readonly retries: Counter<'provider'>
  readonly revocations: Counter<'provider' | 'result'>
  readonly cacheEntries: Gauge

  /** entries: how many credentials the cache holds (read at scrape time). */
  constructor(registry: Registry, entries: () => number = () => 0) {
    const registers = [registry]
    this.fetches = new Counter({
      name: 'toolgate_credential_fetches_total',
      help: 'Credential fetches from providers by result (success, timeout, unavailable, rejected, config).',
      labelNames: ['provider', 'result'] as const,
      registers,
    })
    this.cacheHits = new Counter({
      name: 'toolgate_credential_cache_hits_total',
      help: 'Calls served a cached credential (including calls that joined a fetch already under way).',
      labelNames: ['provider'] as const,
      registers,
    })
    this.fetchSeconds = new Histogram({
      name: 'toolgate_credential_fetch_duration_seconds',
      help: 'Time to fetch one credential from its provider, retries included.',
      labelNames: ['provider'] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    })
    this.retries = new Counter({
      name: 'toolgate_credential_fetch_retries_total',
      help: 'Token endpoint requests retried after a network error, 429 or 5xx.',
      labelNames: ['provider'] as const,
      registers,
    })
    this.revocations = new Counter({
      name: 'toolgate_credential_revocations_total',
      help: 'Credentials dropped before their expiry, by revocation result at the issuer (revoked, not_supported, failed).',
      labelNames: ['provider', 'result'] as const,
      registers,
    })
    this.cacheEntries = new Gauge({
      name: 'toolgate_credential_cache_entries',
      help: 'Credentials currently cached (fetches under way included).',
      registers,
      collect() {
        this.set(entries())
      },
    })
  }
}
