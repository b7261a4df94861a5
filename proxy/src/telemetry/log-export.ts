// Records as OTLP log records. Every record (decision, credential, approval: every kind) is
// emitted through the OpenTelemetry Logs SDK with the record as the body (a map with the same
// fields as the JSON line) and its type and decision id as attributes, in the context of the
// call's span when the call is traced (so trace_id/span_id link the two).
//
// The SDK's batch processor drops silently when full, and the issue asks for drops to be
// counted, so the queue is ours: bounded (max_queue), one export in flight at a time, flushed by
// size or interval. write() never waits: a full queue drops the record and counts it
// (toolgate_otlp_log_records_dropped_total), as does a failed export.

import { ROOT_CONTEXT, trace, TraceFlags, type Context } from '@opentelemetry/api'
import { SeverityNumber } from '@opentelemetry/api-logs'
import { ExportResultCode } from '@opentelemetry/core'
import { LoggerProvider, type LogRecordExporter, type LogRecordProcessor, type ReadableLogRecord, type SdkLogRecord } from '@opentelemetry/sdk-logs'
import type { Resource } from '@opentelemetry/resources'
import type { Counter, Registry } from 'prom-client'
import { counter } from '../record/metric-table.ts'
import type { ToolgateRecord } from '../record/record-types.ts'

export interface LogExportOptions {
  resource: Resource
  exporter: LogRecordExporter
  maxQueue: number
  maxBatch: number
  intervalMs: number
  registry: Registry
}

/** A bounded batch processor that counts what it drops. */
class BoundedLogProcessor implements LogRecordProcessor {
  private queue: SdkLogRecord[] = []
  private inFlight: Promise<void> | null = null
  private readonly timer: NodeJS.Timeout
  private closed = false
  private readonly exporter: LogRecordExporter
  private readonly opts: { maxQueue: number; maxBatch: number; intervalMs: number }
  private readonly counters: { exported: Counter; dropped: Counter<'reason'> }

  constructor(exporter: LogRecordExporter, opts: { maxQueue: number; maxBatch: number; intervalMs: number }, counters: { exported: Counter; dropped: Counter<'reason'> }) {
    this.exporter = exporter
    this.opts = opts
    this.counters = counters
    this.timer = setInterval(() => { void this.flushOnce() }, opts.intervalMs)
    this.timer.unref()
  }

  onEmit(record: SdkLogRecord): void {
    if (this.closed) return
    if (this.queue.length >= this.opts.maxQueue) {
      this.counters.dropped.inc({ reason: 'queue_full' })
      return
    }
    this.queue.push(record)
    if (this.queue.length >= this.opts.maxBatch) void this.flushOnce()
  }

  /** Exports one batch unless one is already on its way. */
  private flushOnce(): Promise<void> {
    if (this.inFlight || this.queue.length === 0) return this.inFlight ?? Promise.resolve()
    const batch = this.queue.splice(0, this.opts.maxBatch)
    this.inFlight = new Promise<void>((resolve) => {
      this.exporter.export(batch as ReadableLogRecord[], (result) => {
        if (result.code === ExportResultCode.SUCCESS) this.counters.exported.inc(batch.length)
        else this.counters.dropped.inc({ reason: 'export_failed' }, batch.length)
        resolve()
      })
    }).finally(() => { this.inFlight = null })
    return this.inFlight
  }

  async forceFlush(): Promise<void> {
    // Bounded: at most as many rounds as batches that were queued when the flush began.
    for (let rounds = Math.ceil(this.queue.length / this.opts.maxBatch) + 1; rounds > 0 && (this.queue.length > 0 || this.inFlight); rounds--) {
      await (this.inFlight ?? this.flushOnce())
    }
  }

  async shutdown(): Promise<void> {
    clearInterval(this.timer)
    await this.forceFlush()
    this.closed = true
    await this.exporter.shutdown()
  }
}

export class OtlpRecordLogs {
  private readonly provider: LoggerProvider

  constructor(opts: LogExportOptions) {
    const counters = {
      exported: counter(opts.registry, 'toolgate_otlp_log_records_exported_total'),
      dropped: counter(opts.registry, 'toolgate_otlp_log_records_dropped_total'),
    }
    this.provider = new LoggerProvider({ resource: opts.resource, processors: [new BoundedLogProcessor(opts.exporter, opts, counters)] })
  }

  private readonly logger = () => this.provider.getLogger('toolgate.records')

  /** Emits one record; never blocks. `ctx`: the call's span context, when traced. */
  /** The context of a sampled span, so a log record emitted in it links to that span's trace. */
  spanContext(traceId: string, spanId: string): Context {
    return trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: false })
  }

  write(record: ToolgateRecord, ctx: Context | null = null): void {
    const type = record.type
    const decision = 'decision' in record ? record.decision : undefined
    // The decision this record belongs to: its own id for a decision record, else the one it names.
    const decisionId = 'decision_id' in record ? record.decision_id : record.type === 'decision' ? record.id : undefined
    const denied = decision === 'deny' || decision === 'would_deny'
    this.logger().emit({
      eventName: `toolgate.${type}`,
      severityNumber: denied ? SeverityNumber.WARN : SeverityNumber.INFO,
      severityText: denied ? 'WARN' : 'INFO',
      body: toAnyValue(record) as never,
      attributes: {
        'toolgate.record.type': type,
        ...(decisionId !== undefined ? { 'toolgate.decision_id': decisionId } : {}),
      },
      context: ctx ?? ROOT_CONTEXT,
    })
  }

  async close(): Promise<void> {
    await this.provider.shutdown()
  }
}

/** JSON value → OTLP AnyValue shape (null becomes absent: AnyValue has no null). */
function toAnyValue(v: unknown): unknown {
  if (v === null || v === undefined) return undefined
  if (Array.isArray(v)) return v.map(toAnyValue).filter((x) => x !== undefined)
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      const a = toAnyValue(x)
      if (a !== undefined) out[k] = a
    }
    return out
  }
  return v
}
