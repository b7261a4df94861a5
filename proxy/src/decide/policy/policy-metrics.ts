// Metrics of the policy engine, registered on the registry the engine is given (one per sidecar
// instance). If the registry already holds them (a second engine on the same registry, e.g.
// `toolgate check` after a start), the existing ones are reused.

import { Counter, Gauge } from 'prom-client'
import type { Registry } from 'prom-client'

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

function existing<T>(registry: Registry, name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined
}

export function policyMetrics(registry: Registry): PolicyMetrics {
  const loads = existing<Counter<'source' | 'result'>>(registry, 'toolgate_policy_bundle_loads_total') ?? new Counter({
    name: 'toolgate_policy_bundle_loads_total',
    help: 'Policy bundle load attempts by source (embedded, file, http) and result (success, failure, unchanged).',
    labelNames: ['source', 'result'] as const,
    registers: [registry],
  })
  const revision = existing<Gauge<'revision'>>(registry, 'toolgate_policy_revision_info') ?? new Gauge({
    name: 'toolgate_policy_revision_info',
    help: 'The manifest revision of the active policy bundle (value 1).',
    labelNames: ['revision'] as const,
    registers: [registry],
  })
  const ready = existing<Gauge>(registry, 'toolgate_policy_ready') ?? new Gauge({
    name: 'toolgate_policy_ready',
    help: '1 when a policy bundle is loaded and calls can be decided, 0 when every call is denied (fail closed).',
    registers: [registry],
  })
  const lastSuccess = existing<Gauge>(registry, 'toolgate_policy_bundle_last_success_timestamp_seconds') ?? new Gauge({
    name: 'toolgate_policy_bundle_last_success_timestamp_seconds',
    help: 'When the active policy bundle was loaded (Unix seconds).',
    registers: [registry],
  })
  const evaluationErrors = existing<Counter>(registry, 'toolgate_policy_evaluation_errors_total') ?? new Counter({
    name: 'toolgate_policy_evaluation_errors_total',
    help: 'Policy evaluations that failed or returned an undefined or malformed result (each denied the call).',
    registers: [registry],
  })
  return { loads, revision, ready, lastSuccess, evaluationErrors }
}

export function revisionLabel(revision: string): string {
  return revision.length > MAX_REVISION_LABEL ? `${revision.slice(0, MAX_REVISION_LABEL)}...` : revision
}
