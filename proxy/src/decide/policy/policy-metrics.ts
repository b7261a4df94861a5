// Metrics of the policy engine, registered on the registry the engine is given (one per sidecar
// instance). If the registry already holds them (a second engine on the same registry, e.g.
// `toolgate check` after a start), the existing ones are reused.

import type { Counter, Gauge, Registry } from 'prom-client'
import { counter, gauge } from '../../record/metric-table.ts'

export interface PolicyMetrics {
  /** Bundle load attempts by source kind and result (success, failure, unchanged). */
  loads: Counter<'source' | 'result'>
  /** 1 for the active revision; one series at a time (reset on every swap). */
  revision: Gauge<'revision'>
  ready: Gauge
  lastSuccess: Gauge
  evaluationErrors: Counter
}

const MAX_REVISION_LABEL = 128

export function policyMetrics(registry: Registry): PolicyMetrics {
  const reuse = { reuse: true }
  return {
    loads: counter(registry, 'toolgate_policy_bundle_loads_total', reuse),
    revision: gauge(registry, 'toolgate_policy_revision_info', reuse),
    ready: gauge(registry, 'toolgate_policy_ready', reuse),
    lastSuccess: gauge(registry, 'toolgate_policy_bundle_last_success_timestamp_seconds', reuse),
    evaluationErrors: counter(registry, 'toolgate_policy_evaluation_errors_total', reuse),
  }
}

export function revisionLabel(revision: string): string {
  return revision.length > MAX_REVISION_LABEL ? `${revision.slice(0, MAX_REVISION_LABEL)}...` : revision
}
