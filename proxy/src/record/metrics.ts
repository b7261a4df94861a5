// Prometheus metrics of one sidecar instance. Each Toolgate instance owns one registry (no
// process-global default registry), so tests can run several instances in one process. Every
// metric is prefixed toolgate_. Labels hold tool names, decisions and stages: never secrets,
// hosts of denied calls (unbounded cardinality) or task ids.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { registerMemoryMetrics } from '../telemetry/memory-metrics.ts'

export class Metrics {
  readonly registry = new Registry()

  readonly requests = new Counter({
    name: 'toolgate_requests_total',
    help: 'Decided calls by tool (or "none"), decision (allow, deny, would_deny) and stage that decided a deny.',
    labelNames: ['tool', 'decision', 'stage'] as const,
    registers: [this.registry],
  })

  readonly decisionSeconds = new Histogram({
    name: 'toolgate_decision_duration_seconds',
    help: 'Time to classify and decide one call (allowlist and policy).',
    labelNames: ['decision'] as const,
    buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    registers: [this.registry],
  })

  readonly upstreamSeconds = new Histogram({
    name: 'toolgate_upstream_duration_seconds',
    help: 'Time from sending a call upstream to its response headers.',
    labelNames: ['tool', 'outcome'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  })

  readonly configReloads = new Counter({
    name: 'toolgate_config_reloads_total',
    help: 'Config reload attempts by result (success, failure).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  })

  readonly credentialReflections = new Counter({
    name: 'toolgate_credential_reflections_total',
    help: 'Occurrences of an injected credential found in an upstream response (redacted or blocked), by tool and place (header, body).',
    labelNames: ['tool', 'place'] as const,
    registers: [this.registry],
  })

  readonly openConnections = new Gauge({
    name: 'toolgate_open_connections',
    help: 'Client connections currently open, by listener.',
    labelNames: ['listener'] as const,
    registers: [this.registry],
  })

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: 'toolgate_' })
      registerMemoryMetrics(this.registry)
    }
  }
}
