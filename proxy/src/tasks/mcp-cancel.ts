// When a toolgate task ends, the MCP tasks (tasks extension) it started on MCP servers are
// cancelled: for each one bound to it (classify/mcp/task-binding.ts), toolgate sends a JSON-RPC
// tasks/cancel to the server that owns it (the same tool upstream and endpoint, the same
// Mcp-Session-Id and protocol version) carrying the tool's credential as the task still holds it
// (credential/lifecycle.ts runs this BEFORE revocation). Bounded: at most MAX_CANCELS_PER_TASK
// tasks per toolgate task, CONCURRENT_CANCELS at a time, each within CANCEL_TIMEOUT_MS, response
// bodies read up to MAX_RESPONSE_BYTES. Each cancel writes one record (type mcp_task_cancel) with
// its outcome; never a credential. A failing cancel is recorded, never thrown.

import { isIP } from 'node:net'
import { randomUUID } from 'node:crypto'
import type { Credential } from '../credential/credential.ts'
import type { ToolCredential } from '../config/schema.gen.ts'
import { checkDestination } from '../decide/destination.ts'
import type { Runtime } from '../listen/runtime.ts'
import type { BoundMcpTask, CancelTarget } from '../classify/mcp/task-binding.ts'
import { PROTOCOL_VERSION_META_KEY } from '../classify/mcp/parse.ts'
import type { RecordWriter } from '../record/record-types.ts'

export const CANCEL_TIMEOUT_MS = 2000
export const CONCURRENT_CANCELS = 4
export const MAX_CANCELS_PER_TASK = 100
const MAX_RESPONSE_BYTES = 64 * 1024

export type CancelOutcome = 'cancelled' | 'refused' | 'failed' | 'timeout' | 'skipped'

export interface McpCancelDeps {
  runtime: () => Runtime
  /** The credential the ended task still holds for the tool (never a new one), or null. */
  heldCredential: (taskId: string, tool: string, tc: ToolCredential) => Credential | null
  records: RecordWriter
  timeoutMs?: number
  concurrency?: number
}

/** Cancels the MCP tasks of an ended toolgate task; resolves when every cancel has an outcome. */
export async function cancelMcpTasks(taskId: string, bound: readonly BoundMcpTask[], deps: McpCancelDeps): Promise<void> {
  const todo = bound.slice(0, MAX_CANCELS_PER_TASK)
  for (const b of bound.slice(MAX_CANCELS_PER_TASK)) record(deps, taskId, b, { outcome: 'skipped', status: null, reason: `more than ${MAX_CANCELS_PER_TASK} MCP tasks in one toolgate task` }, null)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < todo.length) {
      const b = todo[next++]!
      try {
        await cancelOne(taskId, b, deps)
      } catch (err) {
        record(deps, taskId, b, { outcome: 'failed', status: null, reason: `cancel not sent (${(err as Error).name})` }, null)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(deps.concurrency ?? CONCURRENT_CANCELS, todo.length) }, worker))
}

async function cancelOne(taskId: string, b: BoundMcpTask, deps: McpCancelDeps): Promise<void> {
  const rt = deps.runtime()
  const upstream = rt.upstreams.get(b.tool)
  const tool = rt.allowlist.tools.find((t) => t.name === b.tool)
  if (b.target === null || upstream === undefined || tool === undefined) {
    return record(deps, taskId, b, { outcome: 'skipped', status: null, reason: 'the tool or its upstream is no longer configured' }, null)
  }
  const tc = tool.config.credential
  const credential = tc ? deps.heldCredential(taskId, b.tool, tc) : null
  if (tc && credential === null) {
    // Fail closed: an ended task gets no new credential, and the server would refuse without one.
    return record(deps, taskId, b, { outcome: 'skipped', status: null, reason: 'the task holds no live credential for the tool' }, null)
  }
  const host = new URL(b.target.origin).hostname.replace(/^\[|\]$/g, '')
  if (isIP(host)) {
    const refused = checkDestination(host, upstream.rules)
    if (refused !== null) return record(deps, taskId, b, { outcome: 'failed', status: null, reason: refused }, credential)
  }
  const id = `toolgate-cancel-${randomUUID()}`
  const body = cancelBody(id, b.mcpTaskId, b.target)
  const headers = cancelHeaders(b.target, body.length, credential)
  const signal = AbortSignal.timeout(deps.timeoutMs ?? CANCEL_TIMEOUT_MS)
  let result: { outcome: CancelOutcome; status: number | null; reason?: string }
  try {
    const res = await rt.pools.get(upstream, b.target.origin).request({ path: b.target.path, method: 'POST', headers: headers.flat(), body, signal })
    const contentType = String(res.headers['content-type'] ?? '')
    // An SSE answer may stay open after our answer: stop reading once it is there.
    const text = await readBounded(res.body, MAX_RESPONSE_BYTES, signal, (sofar) => sofar.includes(id) && outcomeOf(res.statusCode, contentType, sofar, id).reason !== NO_ANSWER)
    result = { status: res.statusCode, ...outcomeOf(res.statusCode, contentType, text, id) }
  } catch (err) {
    result = signal.aborted
      ? { outcome: 'timeout', status: null, reason: `no answer within ${deps.timeoutMs ?? CANCEL_TIMEOUT_MS} ms` }
      : { outcome: 'failed', status: null, reason: `request failed (${(err as { code?: string }).code ?? (err as Error).name})` }
  }
  record(deps, taskId, b, result, credential)
}

/** The JSON-RPC tasks/cancel request (with the 2026-07-28 _meta version when the creating message had one). */
export function cancelBody(id: string, mcpTaskId: string, target: CancelTarget): Buffer {
  const params: Record<string, unknown> = { taskId: mcpTaskId }
  if (target.metaVersion !== null) params['_meta'] = { [PROTOCOL_VERSION_META_KEY]: target.metaVersion }
  return Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, method: 'tasks/cancel', params }))
}

export function cancelHeaders(target: CancelTarget, length: number, credential: Credential | null): [string, string][] {
  const h: [string, string][] = [
    ['host', target.host],
    ['content-type', 'application/json'],
    ['accept', 'application/json, text/event-stream'],
    ['content-length', String(length)],
  ]
  if (target.sessionId !== null) h.push(['mcp-session-id', target.sessionId])
  if (target.protocolVersion !== null) h.push(['mcp-protocol-version', target.protocolVersion])
  if (target.mirroredHeaders) h.push(['mcp-method', 'tasks/cancel'])
  if (credential !== null) h.push([credential.header, credential.value])
  return h
}

/** Reads a response body up to max bytes, or until `enough` says the answer is in what was read. */
async function readBounded(body: AsyncIterable<Buffer> & { destroy(): unknown }, max: number, signal: AbortSignal, enough: (text: string) => boolean): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    if (signal.aborted) break
    chunks.push(chunk)
    size += chunk.length
    if (size >= max || enough(Buffer.concat(chunks).toString('utf8'))) {
      body.destroy()
      break
    }
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8')
}

const NO_ANSWER = 'no JSON-RPC answer to the cancel in the response'

/** The JSON-RPC answer to our id, from a JSON body or an SSE stream's data lines. */
export function outcomeOf(status: number, contentType: string, text: string, id: string): { outcome: CancelOutcome; reason?: string } {
  if (status < 200 || status >= 300) return { outcome: 'failed', reason: `HTTP ${status}` }
  const candidates: string[] = contentType.includes('text/event-stream')
    ? text.split(/\r\n|\r|\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5))
    : [text]
  for (const c of candidates) {
    let msg: unknown
    try { msg = JSON.parse(c) } catch { continue }
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      if (m === null || typeof m !== 'object' || (m as { id?: unknown }).id !== id) continue
      const error = (m as { error?: { code?: unknown; message?: unknown } }).error
      if (error !== undefined) return { outcome: 'refused', reason: `JSON-RPC error ${String(error?.code)}: ${String(error?.message ?? '').slice(0, 200)}` }
      return { outcome: 'cancelled' }
    }
  }
  return { outcome: 'failed', reason: NO_ANSWER }
}

function record(deps: McpCancelDeps, taskId: string, b: BoundMcpTask, r: { outcome: CancelOutcome; status: number | null; reason?: string }, credential: Credential | null): void {
  deps.records.write({
    type: 'mcp_task_cancel',
    time: new Date().toISOString(),
    task: taskId,
    tool: b.tool,
    mcp_task: b.mcpTaskId.slice(0, 256),
    outcome: r.outcome,
    upstream_status: r.status,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
    // Which issuance it carried (never the secret).
    credential: credential === null ? null : { provider: credential.provider, issuance_id: credential.issuanceId },
  })
}
