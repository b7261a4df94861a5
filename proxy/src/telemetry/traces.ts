// OpenTelemetry traces of tool calls. One span per call (kind SERVER, parent: the agent's W3C
// traceparent/tracestate, or an MCP message's params._meta.traceparent when the request has
// none), with child spans for the decision, the credential fetch and the upstream exchange
// (kind CLIENT, whose context is what the upstream receives in traceparent/tracestate: the
// agent's own values are replaced, never forwarded beside ours). Attributes name the tool,
// route, decision, stage and decision id, the method, host and path: never a header value, a
// credential or a query value.
//
// The pipeline holds no span objects: spans hang off the request (a WeakMap keyed by the
// IncomingMessage) so the hooks stay one line at each call site. Spans are exported in batches
// by a bounded BatchSpanProcessor (full queue: the span is dropped, the call never waits).

import type { IncomingMessage } from 'node:http'
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, defaultTextMapGetter, defaultTextMapSetter, type Context, type Span, type Tracer } from '@opentelemetry/api'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import type { Resource } from '@opentelemetry/resources'
import type { ToolCall } from '../classify/toolcall.ts'
import type { Decision } from '../decide/decision.ts'
import { decisionLabel } from '../record/decision-record.ts'

export interface TracingOptions {
  resource: Resource
  exporter: SpanExporter
  sampleRatio: number
  parentBased: boolean
  maxQueue: number
}

const propagator = new W3CTraceContextPropagator()
const TRACE_HEADERS = new Set(['traceparent', 'tracestate'])

interface CallSpans {
  /** Created on first use, so an MCP message's _meta can still supply the parent. */
  root: Span | null
  ctx: Context | null
  parent: Context
  startMs: number
  via: string
  method: string
  ended: boolean
}

/** A child span of a call; end() is safe to call more than once. */
export interface ChildSpan {
  /** Headers for the upstream with this span's trace context (the agent's trace headers replaced). */
  inject(headers: [string, string][]): [string, string][]
  end(attributes?: Record<string, string | number | boolean>, error?: string): void
}

const noChild: ChildSpan = { inject: (h) => h, end: () => {} }

export class CallTracing {
  private readonly provider: BasicTracerProvider
  private readonly tracer: Tracer
  private readonly calls = new WeakMap<IncomingMessage, CallSpans>()

  constructor(opts: TracingOptions) {
    const root = new TraceIdRatioBasedSampler(opts.sampleRatio)
    this.provider = new BasicTracerProvider({
      resource: opts.resource,
      sampler: opts.parentBased ? new ParentBasedSampler({ root }) : root,
      // Small batches: each is encoded to protobuf in one go on the event loop, so a large one
      // would pause every call in flight (measured: 512-span batches showed as p99 spikes).
      spanProcessors: [new BatchSpanProcessor(opts.exporter, { maxQueueSize: opts.maxQueue, maxExportBatchSize: Math.min(128, opts.maxQueue), scheduledDelayMillis: 200 })],
    })
    this.tracer = this.provider.getTracer('toolgate')
  }

  /** Notes the start of a request's call; the parent is the agent's traceparent, if valid. */
  begin(req: IncomingMessage, via: string): void {
    const parent = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter)
    this.calls.set(req, { root: null, ctx: null, parent, startMs: Date.now(), via, method: req.method ?? '', ended: false })
  }

  /**
   * For an MCP request without a traceparent header: the call's parent is the trace context in
   * the first message's params._meta (where MCP carries it), when it is valid.
   */
  adoptMcpParent(req: IncomingMessage, meta: { traceparent: string; tracestate?: string } | undefined): void {
    const c = this.calls.get(req)
    if (!c || c.root !== null || req.headers['traceparent'] !== undefined || meta === undefined) return
    const carrier: Record<string, string> = { traceparent: meta.traceparent }
    if (meta.tracestate !== undefined) carrier['tracestate'] = meta.tracestate
    const parent = propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter)
    if (trace.getSpanContext(parent) !== undefined) c.parent = parent
  }

  private rootOf(c: CallSpans): { root: Span; ctx: Context } {
    if (c.root === null || c.ctx === null) {
      c.root = this.tracer.startSpan('toolgate call', { kind: SpanKind.SERVER, startTime: c.startMs, attributes: { 'toolgate.via': c.via, 'http.request.method': c.method } }, c.parent)
      c.ctx = trace.setSpan(ROOT_CONTEXT, c.root)
    }
    return { root: c.root, ctx: c.ctx }
  }

  /** The decision as a child span, back-dated by the time deciding took. */
  decided(req: IncomingMessage, call: ToolCall, decision: Decision): void {
    const c = this.calls.get(req)
    if (!c || c.ended) return
    const end = Date.now()
    const span = this.tracer.startSpan('toolgate decide', { startTime: end - decision.decideSeconds * 1000, attributes: decisionAttributes(call, decision) }, this.rootOf(c).ctx)
    span.end(end)
  }

  /** A child span around a step (credential fetch, upstream exchange). */
  child(req: IncomingMessage, name: string, client = false): ChildSpan {
    const c = this.calls.get(req)
    if (!c || c.ended) return noChild
    const span = this.tracer.startSpan(name, { kind: client ? SpanKind.CLIENT : SpanKind.INTERNAL }, this.rootOf(c).ctx)
    let done = false
    return {
      inject(headers) {
        const carrier: Record<string, string> = {}
        propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter)
        return [...headers.filter(([n]) => !TRACE_HEADERS.has(n.toLowerCase())), ...Object.entries(carrier)]
      },
      end(attributes, error) {
        if (done) return
        done = true
        if (attributes) span.setAttributes(attributes)
        if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error })
        span.end()
      },
    }
  }

  /** Ends the call span with the final decision; later calls for the same request do nothing. */
  finish(req: IncomingMessage, call: ToolCall | null, decision: Decision | null, status: number): { traceId: string; spanId: string } | null {
    const c = this.calls.get(req)
    if (!c || c.ended) return null
    c.ended = true
    const { root } = this.rootOf(c)
    if (call && decision) root.setAttributes(decisionAttributes(call, decision))
    root.setAttribute('http.response.status_code', status)
    if (status >= 500) root.setStatus({ code: SpanStatusCode.ERROR })
    root.end()
    const sc = root.spanContext()
    return sc.traceFlags & 1 ? { traceId: sc.traceId, spanId: sc.spanId } : null
  }

  /** Context of a request's call span (log records are emitted in it), once it exists. */
  contextOf(req: IncomingMessage): Context | null {
    return this.calls.get(req)?.ctx ?? null
  }

  async close(): Promise<void> {
    await this.provider.shutdown()
  }
}

/** Span attributes of a decided call: names, never values the agent sent in headers or query. */
export function decisionAttributes(call: ToolCall, decision: Decision): Record<string, string | number | boolean> {
  const a: Record<string, string | number | boolean> = {
    'toolgate.decision_id': call.id,
    'toolgate.decision': decisionLabel(decision),
    'toolgate.tool': call.tool ?? 'none',
    'http.request.method': call.method,
    'server.address': call.target.host,
    'server.port': call.target.port,
    'url.path': call.target.path,
  }
  if (call.route) a['toolgate.route'] = call.route.pattern
  if (decision.stage) a['toolgate.stage'] = decision.stage
  if (call.mcp) {
    a['toolgate.mcp.method'] = call.mcp.method
    if (call.mcp.toolName) a['toolgate.mcp.tool'] = call.mcp.toolName
  }
  if (call.taskId) a['toolgate.task'] = call.taskId
  return a
}

