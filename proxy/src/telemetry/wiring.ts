// Builds what the telemetry section of the config asks for: CallTracing (spans, OTLP/HTTP
// protobuf) and OtlpRecordLogs (records as OTLP log records), each only when its endpoint is
// set, so telemetry is off by default and costs nothing then. The exporters post straight from
// the sidecar to the collector (toolgate's own traffic is not intercepted). Export URLs may not
// carry credentials: the schema has no header field, and a URL with user:password is refused.

// The OpenTelemetry packages (~50 ms to load) are imported only when a section asks for them,
// so a sidecar with telemetry off starts without them.

import { cjsExports } from '../cjs-exports.ts'
import type { Registry } from 'prom-client'
import type { ResolvedConfig } from '../config/resolved.ts'
import type { RecordSink } from '../record/records.ts'
import type { ToolgateRecord } from '../record/record-types.ts'
import type { CallTracing } from './traces.ts'
import type { OtlpRecordLogs } from './log-export.ts'

export const TELEMETRY_DEFAULTS = {
  service_name: 'toolgate',
  traces: { sample_ratio: 1, parent_based: true, max_queue: 2048, timeout_ms: 10_000 },
  logs: { max_queue: 2048, max_batch: 128, interval_ms: 1000, timeout_ms: 10_000, replace_records: false },
} as const

export interface TelemetryServices {
  tracing: CallTracing | null
  logs: OtlpRecordLogs | null
  /** Records also go to OTLP logs only (stdout/file stream off). */
  replaceRecords: boolean
  close(): Promise<void>
}

function checkedUrl(url: string, field: string): string {
  const u = new URL(url)
  if (u.username !== '' || u.password !== '') throw new Error(`${field}: credentials in the URL are not accepted`)
  return u.href
}

export async function startTelemetry(config: ResolvedConfig, registry: Registry): Promise<TelemetryServices> {
  const t = config.telemetry
  if (!t.traces && !t.logs) return { tracing: null, logs: null, replaceRecords: false, close: async () => {} }
  const { resourceFromAttributes } = cjsExports(await import('@opentelemetry/resources'))
  const resource = resourceFromAttributes({
    'service.name': t.service_name ?? TELEMETRY_DEFAULTS.service_name,
    ...(config.agent.namespace ? { 'k8s.namespace.name': config.agent.namespace } : {}),
    ...(config.agent.pod ? { 'k8s.pod.name': config.agent.pod } : {}),
  })
  let tracing: CallTracing | null = null
  if (t.traces) {
    const d = TELEMETRY_DEFAULTS.traces
    const [{ OTLPTraceExporter }, { CallTracing }] = await Promise.all([import('@opentelemetry/exporter-trace-otlp-proto').then(cjsExports), import('./traces.ts')])
    tracing = new CallTracing({
      resource,
      exporter: new OTLPTraceExporter({ url: checkedUrl(t.traces.endpoint, 'telemetry.traces.endpoint'), timeoutMillis: t.traces.timeout_ms ?? d.timeout_ms }),
      sampleRatio: t.traces.sample_ratio ?? d.sample_ratio,
      parentBased: t.traces.parent_based ?? d.parent_based,
      maxQueue: t.traces.max_queue ?? d.max_queue,
    })
  }
  let logs: OtlpRecordLogs | null = null
  if (t.logs) {
    const d = TELEMETRY_DEFAULTS.logs
    const [{ OTLPLogExporter }, { OtlpRecordLogs }] = await Promise.all([import('@opentelemetry/exporter-logs-otlp-proto').then(cjsExports), import('./log-export.ts')])
    logs = new OtlpRecordLogs({
      resource,
      exporter: new OTLPLogExporter({ url: checkedUrl(t.logs.endpoint, 'telemetry.logs.endpoint'), timeoutMillis: t.logs.timeout_ms ?? d.timeout_ms }),
      maxQueue: t.logs.max_queue ?? d.max_queue,
      maxBatch: t.logs.max_batch ?? d.max_batch,
      intervalMs: t.logs.interval_ms ?? d.interval_ms,
      registry,
    })
  }
  return {
    tracing,
    logs,
    replaceRecords: t.logs?.replace_records ?? TELEMETRY_DEFAULTS.logs.replace_records,
    async close() {
      await Promise.allSettled([tracing?.close(), logs?.close()])
    },
  }
}

/**
 * The record sink with OTLP logs beside it (or instead of it). A record that names its call's
 * trace (trace_id, span_id) is emitted in that span's context, so the log links to the trace.
 */
export function withLogExport(primary: RecordSink | null, logs: OtlpRecordLogs): RecordSink {
  const sink: RecordSink = {
    write(record: ToolgateRecord) {
      primary?.write(record)
      const ctx = 'trace_id' in record && record.trace_id !== undefined && record.span_id !== undefined ? logs.spanContext(record.trace_id, record.span_id) : null
      logs.write(record, ctx)
    },
    async close() {
      await primary?.close()
    },
  }
  if (primary?.publicJwk) Object.assign(sink, { publicJwk: primary.publicJwk })
  return sink
}
