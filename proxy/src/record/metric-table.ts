// Every Prometheus metric toolgate exposes, declared once: name, type, help, labels, buckets.
// Owners (finish, the broker, the policy engine, the TLS interceptor, ...) never call
// `new Counter(...)` themselves: they ask this module for their metric by name, so a name or a
// label set lives in one place, docs/metrics.md is generated from this table
// (scripts/gen-metrics-docs.ts) and test/record/metric-table.test.ts holds /metrics to it.
//
// Labels hold tool names, decisions, stages, configured provider/limit/issuer names and fixed
// outcome words: never secrets, task ids or hosts of denied calls (unbounded cardinality).
//
// To add a metric: add a row here (keep the name toolgate_*), get it with counter()/gauge()/
// histogram() where it is updated, run `node scripts/gen-metrics-docs.ts`.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

interface Row {
  readonly type: 'counter' | 'gauge' | 'histogram'
  readonly help: string
  readonly labels: readonly string[]
  readonly buckets?: readonly number[]
  /** Where the metric is registered and when it exists (docs only). */
  readonly owner: string
  /** Docs: the values each label takes, when they are a closed set or need a word. */
  readonly labelValues?: Readonly<Record<string, string>>
}

export const METRICS = {
  // --- requests (pipeline/finish.ts and the stages that time themselves) ---
  toolgate_requests_total: {
    type: 'counter',
    help: 'Decided calls by tool (or "none"), decision (allow, deny, would_deny) and stage that decided a deny.',
    labels: ['tool', 'decision', 'stage'],
    owner: 'record/metrics.ts; incremented once per call by pipeline/finish.ts',
    labelValues: { tool: 'a configured tool or `none`', decision: '`allow`, `deny`, `would_deny`', stage: 'the stage that denied (empty on allow)' },
  },
  toolgate_decision_duration_seconds: {
    type: 'histogram',
    help: 'Time to classify and decide one call (allowlist and policy).',
    labels: ['decision'],
    buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
    owner: 'record/metrics.ts',
  },
  toolgate_upstream_duration_seconds: {
    type: 'histogram',
    help: 'Time from sending a call upstream to its response headers.',
    labels: ['tool', 'outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    owner: 'record/metrics.ts',
  },
  toolgate_config_reloads_total: {
    type: 'counter',
    help: 'Config reload attempts by result (success, failure).',
    labels: ['result'],
    owner: 'record/metrics.ts',
    labelValues: { result: '`success`, `failure`' },
  },
  toolgate_credential_reflections_total: {
    type: 'counter',
    help: 'Occurrences of an injected credential found in an upstream response (redacted or blocked), by tool and place (header, body).',
    labels: ['tool', 'place'],
    owner: 'record/metrics.ts',
    labelValues: { place: '`header`, `body`' },
  },
  toolgate_open_connections: {
    type: 'gauge',
    help: 'Client connections currently open, by listener.',
    labels: ['listener'],
    owner: 'record/metrics.ts',
  },
  // --- policy (decide/policy/policy-metrics.ts) ---
  toolgate_policy_bundle_loads_total: {
    type: 'counter',
    help: 'Policy bundle load attempts by source (embedded, file, http) and result (success, failure, unchanged).',
    labels: ['source', 'result'],
    owner: 'decide/policy/policy-metrics.ts',
    labelValues: { source: '`embedded`, `file`, `http`', result: '`success`, `failure`, `unchanged`' },
  },
  toolgate_policy_revision_info: {
    type: 'gauge',
    help: 'The manifest revision of the active policy bundle (value 1).',
    labels: ['revision'],
    owner: 'decide/policy/policy-metrics.ts',
  },
  toolgate_policy_ready: {
    type: 'gauge',
    help: '1 when a policy bundle is loaded and calls can be decided, 0 when every call is denied (fail closed).',
    labels: [],
    owner: 'decide/policy/policy-metrics.ts',
  },
  toolgate_policy_bundle_last_success_timestamp_seconds: {
    type: 'gauge',
    help: 'When the active policy bundle was loaded (Unix seconds).',
    labels: [],
    owner: 'decide/policy/policy-metrics.ts',
  },
  toolgate_policy_evaluation_errors_total: {
    type: 'counter',
    help: 'Policy evaluations that failed or returned an undefined or malformed result (each denied the call).',
    labels: [],
    owner: 'decide/policy/policy-metrics.ts',
  },
  // --- credentials (credential/credential-metrics.ts) ---
  toolgate_credential_fetches_total: {
    type: 'counter',
    help: 'Credential fetches from providers by result (success, timeout, unavailable, rejected, config).',
    labels: ['provider', 'result'],
    owner: 'credential/credential-metrics.ts',
    labelValues: { result: '`success`, `timeout`, `unavailable`, `rejected`, `config`' },
  },
  toolgate_credential_cache_hits_total: {
    type: 'counter',
    help: 'Calls served a cached credential (including calls that joined a fetch already under way).',
    labels: ['provider'],
    owner: 'credential/credential-metrics.ts',
  },
  toolgate_credential_fetch_duration_seconds: {
    type: 'histogram',
    help: 'Time to fetch one credential from its provider, retries included.',
    labels: ['provider'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    owner: 'credential/credential-metrics.ts',
  },
  toolgate_credential_fetch_retries_total: {
    type: 'counter',
    help: 'Token endpoint requests retried after a network error, 429 or 5xx.',
    labels: ['provider'],
    owner: 'credential/credential-metrics.ts',
  },
  toolgate_credential_revocations_total: {
    type: 'counter',
    help: 'Credentials dropped before their expiry, by revocation result at the issuer (revoked, not_supported, failed).',
    labels: ['provider', 'result'],
    owner: 'credential/credential-metrics.ts',
    labelValues: { result: '`revoked`, `not_supported`, `failed`' },
  },
  toolgate_credential_cache_entries: {
    type: 'gauge',
    help: 'Credentials currently cached (fetches under way included).',
    labels: [],
    owner: 'credential/credential-metrics.ts',
  },
  // --- rate limits (ratelimit/stage.ts) ---
  toolgate_rate_limit_total: {
    type: 'counter',
    help: 'Calls refused by a rate limit (result limited, by limit name), and calls that met an unavailable rate limit service (limit "service", result unavailable_denied or unavailable_allowed).',
    labels: ['limit', 'result'],
    owner: 'ratelimit/stage.ts; see [rate-limits.md](rate-limits.md)',
    labelValues: { limit: 'a configured limit name, or `service`', result: '`limited`, `unavailable_denied`, `unavailable_allowed`' },
  },
  // --- tasks and approvals ---
  toolgate_tasks_open: {
    type: 'gauge',
    help: 'Tasks currently open.',
    labels: [],
    owner: 'tasks/registry.ts',
  },
  toolgate_task_grants_total: {
    type: 'counter',
    help: 'Task grants presented, by issuer and result (opened, used, refused).',
    labels: ['issuer', 'result'],
    owner: 'trust/grants.ts',
    labelValues: { issuer: 'a configured issuer name or `unknown`', result: '`opened`, `used`, `refused`' },
  },
  toolgate_approvals_total: {
    type: 'counter',
    help: 'Approval requests by outcome (approved, denied, timeout, overflow, cancelled).',
    labels: ['outcome'],
    owner: 'admin/api-approvals.ts',
    labelValues: { outcome: '`approved`, `denied`, `timeout`, `overflow`, `cancelled`' },
  },
  toolgate_approvals_pending: {
    type: 'gauge',
    help: 'Calls currently held waiting for approval.',
    labels: [],
    owner: 'admin/api-approvals.ts',
  },
  // --- TLS interception (listen/tls/) ---
  toolgate_tls_handshakes_total: {
    type: 'counter',
    help: 'TLS handshakes on intercepted connections by result',
    labels: ['result'],
    owner: 'listen/tls/interceptor.ts; only when TLS interception is configured',
  },
  toolgate_tls_intercepted_connections: {
    type: 'gauge',
    help: 'Intercepted TLS connections open now',
    labels: [],
    owner: 'listen/tls/interceptor.ts; only when TLS interception is configured',
  },
  toolgate_tls_leaf_mint_total: {
    type: 'counter',
    help: 'Leaf certificates minted by the per-pod CA',
    labels: ['result'],
    owner: 'listen/tls/leaf-cache.ts; only when TLS interception is configured',
  },
  toolgate_tls_leaf_cache_lookups_total: {
    type: 'counter',
    help: 'Leaf certificate cache lookups',
    labels: ['result'],
    owner: 'listen/tls/leaf-cache.ts; only when TLS interception is configured',
  },
  // --- telemetry (telemetry/log-export.ts) ---
  toolgate_otlp_log_records_exported_total: {
    type: 'counter',
    help: 'Records exported as OTLP log records.',
    labels: [],
    owner: 'telemetry/log-export.ts; only when telemetry.logs is on, see [telemetry.md](telemetry.md)',
  },
  toolgate_otlp_log_records_dropped_total: {
    type: 'counter',
    help: 'Records not exported as OTLP log records, by reason (queue_full, export_failed).',
    labels: ['reason'],
    owner: 'telemetry/log-export.ts; only when telemetry.logs is on',
    labelValues: { reason: '`queue_full`, `export_failed`' },
  },
  // --- memory (telemetry/memory-metrics.ts; read at scrape time) ---
  toolgate_memory_bytes: {
    type: 'gauge',
    help: 'Process memory by area: rss (resident set), heap_used and heap_total (V8 heap), external (memory V8 objects hold outside the heap, incl. Buffers and WASM), array_buffers (ArrayBuffers and Buffers), wasm (policy WASM linear memories not yet collected).',
    labels: ['area'],
    owner: 'telemetry/memory-metrics.ts; see [telemetry.md](telemetry.md#memory)',
    labelValues: { area: '`rss`, `heap_used`, `heap_total`, `external`, `array_buffers`, `wasm`' },
  },
  toolgate_live_objects: {
    type: 'gauge',
    help: 'Objects a reload supersedes that are still alive (created and not yet garbage collected), by kind. After reloads settle these return to what the active config needs; steady growth is a leak.',
    labels: ['kind'],
    owner: 'telemetry/memory-metrics.ts (counts from telemetry/live-objects.ts)',
    labelValues: { kind: '`config_snapshot`, `pool_set`, `upstream_pool`, `policy_instance`' },
  },
  toolgate_policy_wasm_memory_bytes: {
    type: 'gauge',
    help: 'Linear memory of the active policy WASM instance, by bundle revision. A WebAssembly.Memory never shrinks: a value near the 64 MiB bound means evaluations are close to failing (and are denied).',
    labels: ['revision'],
    owner: 'telemetry/memory-metrics.ts, registered by the policy engine',
    labelValues: { revision: 'the active bundle\'s manifest revision (one series)' },
  },
} as const satisfies Record<`toolgate_${string}`, Row>

/**
 * prom-client's process and Node.js metrics (collectDefaultMetrics with this prefix) are not
 * rows: their names are prom-client's. They are on unless a test turns them off.
 */
export const PROCESS_METRICS_PREFIX = 'toolgate_'

export type MetricName = keyof typeof METRICS
type Table = typeof METRICS
type NamesOf<T extends Row['type']> = { [N in MetricName]: Table[N]['type'] extends T ? N : never }[MetricName]
export type LabelsOf<N extends MetricName> = Table[N]['labels'][number]

interface MakeOptions {
  /** Scrape-time value for a gauge (prom-client's collect). */
  collect?: (this: Gauge) => void | Promise<void>
  /** Return the metric already on the registry (a second owner on one registry) instead of throwing. */
  reuse?: boolean
}

function make(registry: Registry, name: MetricName, opts: MakeOptions): Counter | Gauge | Histogram {
  if (opts.reuse) {
    const existing = registry.getSingleMetric(name)
    if (existing) return existing as Counter | Gauge | Histogram
  }
  const row: Row = METRICS[name]
  const base = { name, help: row.help, labelNames: [...row.labels], registers: [registry] }
  switch (row.type) {
    case 'counter': return new Counter(base)
    case 'gauge': return new Gauge(opts.collect ? { ...base, collect: opts.collect } : base)
    case 'histogram': return new Histogram({ ...base, buckets: [...(row.buckets ?? [])] })
  }
}

export function counter<N extends NamesOf<'counter'>>(registry: Registry, name: N, opts: MakeOptions = {}): Counter<LabelsOf<N>> {
  return make(registry, name, opts) as Counter<LabelsOf<N>>
}

export function gauge<N extends NamesOf<'gauge'>>(registry: Registry, name: N, opts: MakeOptions = {}): Gauge<LabelsOf<N>> {
  return make(registry, name, opts) as Gauge<LabelsOf<N>>
}

export function histogram<N extends NamesOf<'histogram'>>(registry: Registry, name: N, opts: MakeOptions = {}): Histogram<LabelsOf<N>> {
  return make(registry, name, opts) as Histogram<LabelsOf<N>>
}
