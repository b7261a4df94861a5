// Prometheus metrics of the credential broker, registered on the registry it is given. Labels
// are provider names and outcomes from config (bounded), never tokens, tasks or tools' secrets.

import type { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { counter, gauge, histogram } from '../record/metric-table.ts'

export class CredentialMetrics {
  readonly fetches: Counter<'provider' | 'result'>
  readonly cacheHits: Counter<'provider'>
  readonly fetchSeconds: Histogram<'provider'>
  readonly retries: Counter<'provider'>
  readonly revocations: Counter<'provider' | 'result'>
  readonly cacheEntries: Gauge

  /** entries: how many credentials the cache holds (read at scrape time). */
  constructor(registry: Registry, entries: () => number = () => 0) {
    this.fetches = counter(registry, 'toolgate_credential_fetches_total')
    this.cacheHits = counter(registry, 'toolgate_credential_cache_hits_total')
    this.fetchSeconds = histogram(registry, 'toolgate_credential_fetch_duration_seconds')
    this.retries = counter(registry, 'toolgate_credential_fetch_retries_total')
    this.revocations = counter(registry, 'toolgate_credential_revocations_total')
    this.cacheEntries = gauge(registry, 'toolgate_credential_cache_entries', { collect() { this.set(entries()) } })
  }
}
