// W3C trace context into MCP messages, where the MCP spec carries it: params._meta.traceparent
// and params._meta.tracestate. Used only when tracing is on, for a POST whose messages were all
// decided: the forwarded body becomes the canonical re-serialisation of exactly those messages
// (from the strict parser's tree, classify/mcp/strict-json.ts, which already refused duplicate
// keys, unsafe integers and anything else two parsers could read differently), with only those
// two _meta members set to toolgate's upstream span: whatever trace context the agent put there
// is replaced, never kept beside ours. Messages without params (or with a _meta that is not an
// object) are left as they are; responses (a client answering the server) carry no params.
// Content-Length is recomputed for the new bytes.

import type { ValueNode } from '@humanwhocodes/momoa'
import { toValue } from '../classify/mcp/strict-json.ts'

export interface TraceCarrier {
  traceparent?: string
  tracestate?: string
}

const TRACE_KEYS = ['traceparent', 'tracestate'] as const

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/** One message with its params._meta trace members set to carrier's (the others untouched). */
function withMeta(message: unknown, carrier: TraceCarrier): unknown {
  if (!isObject(message) || typeof message['method'] !== 'string' || !isObject(message['params'])) return message
  const params = message['params']
  const old = params['_meta']
  if (old !== undefined && !isObject(old)) return message
  const meta: Record<string, unknown> = {}
  // Copy as data (a "__proto__" key stays a key), leaving out the agent's trace members.
  for (const [k, v] of Object.entries(old ?? {})) if (!(TRACE_KEYS as readonly string[]).includes(k)) Object.defineProperty(meta, k, { value: v, enumerable: true, writable: true, configurable: true })
  for (const k of TRACE_KEYS) if (carrier[k] !== undefined) meta[k] = carrier[k]
  Object.defineProperty(params, '_meta', { value: meta, enumerable: true, writable: true, configurable: true })
  return message
}

/** The body to forward: every message of the parsed tree re-serialised with toolgate's trace context in params._meta. */
export function bodyWithTraceMeta(root: ValueNode, carrier: TraceCarrier): Buffer {
  const value = toValue(root)
  const out = Array.isArray(value) ? value.map((m) => withMeta(m, carrier)) : withMeta(value, carrier)
  return Buffer.from(JSON.stringify(out), 'utf8')
}

/** Headers for a rewritten body: Content-Length replaced by the new length (no Transfer-Encoding). */
export function withContentLength(headers: [string, string][], length: number): [string, string][] {
  return [...headers.filter(([n]) => { const l = n.toLowerCase(); return l !== 'content-length' && l !== 'transfer-encoding' }), ['content-length', String(length)]]
}
