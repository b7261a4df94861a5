// Prometheus metrics of one sidecar instance. Each Toolgate instance owns one registry (no
// process-global default registry), so tests can run several instances in one process. Every
// metric is declared in record/metric-table.ts (names, labels, buckets, docs).

import { Registry, collectDefaultMetrics } from 'prom-client'
import { PROCESS_METRICS_PREFIX, counter, gauge, histogram } from './metric-table.ts'
import { registerMemoryMetrics } from '../telemetry/memory-metrics.ts'

export class Metrics {
  readonly registry = new Registry()

  readonly requests = counter(this.registry, 'toolgate_requests_total')
  readonly decisionSeconds = histogram(this.registry, 'toolgate_decision_duration_seconds')
  readonly upstreamSeconds = histogram(this.registry, 'toolgate_upstream_duration_seconds')
  readonly configReloads = counter(this.registry, 'toolgate_config_reloads_total')
  readonly credentialReflections = counter(this.registry, 'toolgate_credential_reflections_total')
  readonly openConnections = gauge(this.registry, 'toolgate_open_connections')

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: PROCESS_METRICS_PREFIX })
      registerMemoryMetrics(this.registry)
    }
  }
}
