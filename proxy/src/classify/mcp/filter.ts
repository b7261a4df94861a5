// Filters tools/list RESULTS on their way back to the agent, so it never sees tools it may not
// call. The response to a POST is either one JSON body (application/json) or an SSE stream
// (text/event-stream) whose events carry JSON-RPC messages. Only a response whose id is one of
// the tools/list request ids (or any response with result.tools when requestIds is 'any', for
// GET streams and resumed streams whose requests toolgate did not see) is rewritten; every other
// byte passes through unchanged and in order. Once every awaited id has been answered the rest of
// an SSE stream is passed through without inspection (JSON-RPC clients drop duplicate responses).
// A response whose id a client would coerce to an awaited one (the TypeScript SDK matches
// Number(id): "1.0" answers request 1) is filtered too, without counting as the answer.
//
// Responses are parsed with the same strict parser as requests: a message another parser could
// read differently (duplicate keys, folded keys, bad UTF-8) ends the stream with McpFilterError
// instead of being passed through. Data that is not strict JSON is NOT passed on while the
// filter is looking: some clients trim Unicode whitespace (\v, \f, U+0085, U+00A0) or repair
// input before parsing, so "not JSON to us" may still be a tools list to them. Such an SSE event
// is replaced by an SSE comment (the stream and its filtering go on: one bad event never switches
// filtering off); such a JSON body ends the response with McpFilterError. Events whose data is
// empty or JSON whitespace only (the priming events of resumable streams) pass. A JSON body, or
// one SSE event, larger than maxBytes while the filter is still looking also ends it with
// McpFilterError: it can be neither checked nor passed unchecked.
//
// Only bytes the filter reads are passed while it is looking: a response with a Content-Encoding
// (gzip, br, ...: clients decode it, the filter would see binary without a data line and pass it)
// or with a Content-Type other than application/json or text/event-stream (clients are lenient:
// the Python SDK reads anything that starts with "application/json" or "text/event-stream" as such)
// ends with McpFilterError at its first byte. An empty body (a 202, a bodiless 200) still passes.

import { Transform, type TransformCallback } from 'node:stream'
import { parseStrictJson, toValue } from './strict-json.ts'
import { nameProblem } from './names.ts'
import { SseSizeError, SseSplitter, type SseEvent } from './sse.ts'

export interface ToolsListFilterOptions {
  /** Content-Type of the upstream response. */
  contentType: string
  /** Content-Encoding of the upstream response, if any (anything but identity cannot be inspected). */
  contentEncoding?: string
  /** Name-only decision (list time): mcpToolAllowed(rules, name).allowed, usually. */
  allowed: (toolName: string) => boolean
  /** Ids of the tools/list requests in the POST this responds to; 'any' rewrites every result that has a tools list. */
  requestIds: Set<string | number> | 'any'
  /** Bound on a buffered JSON body or one SSE event. */
  maxBytes: number
  /** Told what was hidden, for the record (names only). */
  onFiltered?: (info: { id: string | number; removed: string[]; kept: number }) => void
  /** Sees every awaited result (the MCP task a task-augmented tools/call created). */
  observe?: (id: string | number, result: unknown) => void
  /** Second look at a tool whose name is allowed (definition pinning): false hides it. */
  inspect?: (tool: Record<string, unknown>) => boolean
  /** Told when an SSE event was dropped (and why), for the record. */
  onDropped?: (reason: string) => void
  /**
   * Per listing (so its bounds count per listing, also on a long-lived stream): rewrites a kept
   * tool's definition (pipeline/mcp-annotate.ts: a tool the policy would deny says so); null keeps it as is.
   */
  annotate?: () => (tool: Record<string, unknown>) => Record<string, unknown> | null
}

export class McpFilterError extends Error {
  override name = 'McpFilterError'
}

type Mode = 'json' | 'sse' | 'other'

export function responseMode(contentType: string): Mode {
  const type = contentType.split(';')[0]!.trim().toLowerCase()
  if (type === 'application/json') return 'json'
  if (type === 'text/event-stream') return 'sse'
  return 'other'
}

export function createToolsListFilter(opts: ToolsListFilterOptions): Transform {
  const mode = responseMode(opts.contentType)
  const pending = opts.requestIds === 'any' ? null : new Set(opts.requestIds)
  const done = (): boolean => pending !== null && pending.size === 0
  const rewrite = (value: unknown): unknown => rewriteMessages(value, opts, pending)

  if (done()) return new Transform({ transform: (c: Buffer, _e, cb) => cb(null, c) })
  const unreadable = encodedProblem(opts.contentEncoding) ?? (mode === 'other' ? `Content-Type ${JSON.stringify(opts.contentType.slice(0, 80))} is neither application/json nor text/event-stream` : null)
  if (unreadable !== null) {
    // Not one byte of a body the filter cannot read goes to the agent.
    return new Transform({ transform: (c: Buffer, _e, cb) => (c.length === 0 ? cb() : cb(new McpFilterError(`MCP response refused while a tools list is awaited: ${unreadable}`))) })
  }

  if (mode === 'json') {
    const chunks: Buffer[] = []
    let size = 0
    return new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        size += chunk.length
        if (size > opts.maxBytes) return cb(new McpFilterError(`tools/list response exceeds ${opts.maxBytes} bytes`))
        chunks.push(chunk)
        cb()
      },
      flush(cb: TransformCallback) {
        const raw = Buffer.concat(chunks)
        try {
          cb(null, rewriteJson(raw, opts.maxBytes, rewrite))
        } catch (err) {
          cb(err as Error)
        }
      },
    })
  }

  const splitter = new SseSplitter(opts.maxBytes)
  let passthrough = false
  const emit = (t: Transform, ev: SseEvent): void => {
    const text = ev.data.join('\n')
    if (JSON_WHITESPACE_ONLY.test(text)) return void t.push(ev.raw)
    const replaced = rewriteJsonText(Buffer.from(text), opts.maxBytes, rewrite)
    if (replaced === NOT_JSON) {
      opts.onDropped?.('an SSE event whose data is not strict JSON')
      return void t.push(DROPPED_EVENT)
    }
    t.push(replaced === null ? ev.raw : rewrittenEvent(ev, replaced))
  }
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      if (passthrough) return cb(null, chunk)
      try {
        for (const ev of splitter.push(chunk)) {
          if (passthrough) this.push(ev.raw)
          else emit(this, ev)
          if (!passthrough && done()) passthrough = true
        }
        if (passthrough) {
          const held = splitter.drain()
          if (held.length > 0) this.push(held)
        }
        cb()
      } catch (err) {
        cb(err instanceof SseSizeError ? new McpFilterError(err.message) : (err as Error))
      }
    },
    flush(cb: TransformCallback) {
      if (passthrough) return cb()
      try {
        for (const ev of splitter.end()) emit(this, ev)
        cb()
      } catch (err) {
        cb(err as Error)
      }
    },
  })
}

/** Why a response with this Content-Encoding cannot be inspected, or null (none, or identity only). */
function encodedProblem(contentEncoding: string | undefined): string | null {
  if (contentEncoding === undefined) return null
  const codings = contentEncoding.split(',').map((c) => c.trim().toLowerCase()).filter((c) => c !== '')
  if (codings.every((c) => c === 'identity')) return null
  return `Content-Encoding ${JSON.stringify(contentEncoding.slice(0, 40))} (an encoded body cannot be inspected)`
}

/** The body to send for a buffered JSON response. */
function rewriteJson(raw: Buffer, maxBytes: number, rewrite: (v: unknown) => unknown): Buffer {
  if (raw.length === 0) return raw
  const replaced = rewriteJsonText(raw, maxBytes, rewrite)
  if (replaced === NOT_JSON) throw new McpFilterError('MCP response refused: the body is not strict JSON')
  return replaced === null ? raw : Buffer.from(replaced)
}

const NOT_JSON = Symbol('not JSON')
const JSON_WHITESPACE_ONLY = /^[ \t\r\n]*$/
/** What a dropped SSE event becomes: a comment line and the blank line that ends an event. */
const DROPPED_EVENT = Buffer.from(': toolgate dropped an event whose data is not strict JSON\n\n')

/** New JSON text when the payload held a tools/list result that lost tools, null to keep the bytes, NOT_JSON when it does not parse. */
function rewriteJsonText(raw: Buffer, maxBytes: number, rewrite: (v: unknown) => unknown): string | null | typeof NOT_JSON {
  const parsed = parseStrictJson(raw, maxBytes)
  if (!parsed.ok) {
    if (parsed.kind === 'syntax') return NOT_JSON
    throw new McpFilterError(`MCP response refused: ${parsed.reason}`)
  }
  const value = toValue(parsed.root)
  const next = rewrite(value)
  return next === value ? null : JSON.stringify(next)
}

/** Same event, its data lines replaced by one line with the rewritten JSON (no newlines in it). */
function rewrittenEvent(ev: SseEvent, json: string): Buffer {
  const text = ev.raw.toString('utf8')
  // Split keeping terminators; data lines go, other fields (id, event, retry, comments) stay.
  const lines = text.match(/[^\r\n]*(?:\r\n|\r|\n|$)/g)!.filter((l) => l.length > 0)
  const out: string[] = []
  let placed = false
  for (const line of lines) {
    const content = line.replace(/[\r\n]+$/, '')
    const field = content.replace(/^\ufeff/, '').split(':', 1)[0]
    if (field === 'data' && content.length > 0) {
      if (!placed) out.push(`${content.startsWith('\ufeff') ? '\ufeff' : ''}data: ${json}\n`)
      placed = true
    } else {
      out.push(line)
    }
  }
  return Buffer.from(out.join(''))
}

/** Returns the same value when nothing changed, else a copy with the hidden tools removed. */
function rewriteMessages(value: unknown, opts: ToolsListFilterOptions, pending: Set<string | number> | null): unknown {
  if (Array.isArray(value)) {
    let changed = false
    const next = value.map((m) => {
      const r = rewriteOne(m, opts, pending)
      if (r !== m) changed = true
      return r
    })
    return changed ? next : value
  }
  return rewriteOne(value, opts, pending)
}

function rewriteOne(msg: unknown, opts: ToolsListFilterOptions, pending: Set<string | number> | null): unknown {
  if (!isObject(msg) || 'method' in msg) return msg
  const id = msg['id']
  if (typeof id !== 'string' && typeof id !== 'number') return msg
  if (pending !== null) {
    // Only the exact id counts as the answer (clients that compare ids exactly still wait for
    // it); an id a client coerces to an awaited one is filtered all the same.
    if (pending.has(id)) pending.delete(id)
    else if (!looselyAwaited(id, opts.requestIds)) return msg
  }
  const result = msg['result']
  opts.observe?.(id, result)
  if (!isObject(result) || !Array.isArray(result['tools'])) return msg
  const removed: string[] = []
  const kept = (result['tools'] as unknown[]).filter((tool) => {
    const name = isObject(tool) ? tool['name'] : undefined
    const ok = typeof name === 'string' && nameProblem(name) === null && opts.allowed(name) && (opts.inspect?.(tool as Record<string, unknown>) ?? true)
    if (!ok) removed.push(typeof name === 'string' ? name : '(unnamed)')
    return ok
  })
  opts.onFiltered?.({ id, removed, kept: kept.length })
  let annotated = false
  const annotateOne = opts.annotate?.()
  const shown = annotateOne === undefined ? kept : kept.map((tool) => {
    const next = annotateOne(tool as Record<string, unknown>)
    if (next === null) return tool
    annotated = true
    return next
  })
  if (removed.length === 0 && !annotated) return msg
  // The filtered list is this agent's view, not the server's: no cache may share it (2026-07-28 cacheScope).
  return { ...msg, result: { ...result, tools: shown, cacheScope: 'private' } }
}

/**
 * True when a client could take this response id for one of the awaited ids: the TypeScript SDK
 * finds a response's request with Number(response.id), so "1", "1.0", " 1", "01" and "1e0" all
 * answer request 1 there ("" answers 0).
 */
function looselyAwaited(id: string | number, awaited: Set<string | number> | 'any'): boolean {
  if (awaited === 'any') return true
  const n = Number(id)
  if (Number.isNaN(n)) return false
  for (const a of awaited) if (Number(a) === n) return true
  return false
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
