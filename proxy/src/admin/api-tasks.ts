// Task API on the admin listener (loopback by default):
//   POST   /v1/tasks        {intent, tools, ttl_s?} → 201 {id, expires_at, ...}
//   GET    /v1/tasks/<id>   → 200 task | 404
//   DELETE /v1/tasks/<id>   → 200 {id, ended: true} (its credentials are dropped and revoked) | 404
// Bodies are bounded and must be JSON; every refusal says precisely what was wrong.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { taskView, type TaskRegistry } from '../tasks/registry.ts'

export const MAX_ADMIN_BODY_BYTES = 16 * 1024

export interface TasksApiDeps {
  tasks: TaskRegistry
  /** Tool names of the current config: a task declaring an unknown tool is refused (typos). */
  knownTools?: () => ReadonlySet<string>
  /** Awaited by DELETE so the answer comes after revocation (the broker's revokeTask). */
  revokeTask?: (taskId: string) => Promise<void>
}

export async function handleTasksApi(req: IncomingMessage, res: ServerResponse, url: URL, deps: TasksApiDeps): Promise<boolean> {
  if (url.pathname === '/v1/tasks') {
    if (req.method !== 'POST') return methodNotAllowed(req, res, 'POST')
    const body = await readJsonBody(req, res)
    if (!body.ok) return true
    const known = deps.knownTools?.()
    const created = deps.tasks.create(body.value, known ? { knownTools: known } : {})
    if (!created.ok) {
      sendJson(res, created.error.status, { error: created.error.error, reason: created.error.reason })
      return true
    }
    res.setHeader('location', `/v1/tasks/${created.task.id}`)
    sendJson(res, 201, taskView(created.task))
    return true
  }
  const m = /^\/v1\/tasks\/([A-Za-z0-9_-]{1,64})$/.exec(url.pathname)
  if (!m) {
    if (url.pathname.startsWith('/v1/tasks/')) {
      sendJson(res, 404, { error: 'not_found', reason: 'no such task' })
      return true
    }
    return false
  }
  const id = m[1]!
  if (req.method === 'GET') {
    const task = deps.tasks.get(id)
    if (!task) sendJson(res, 404, { error: 'not_found', reason: 'no such task (unknown, ended or expired)' })
    else sendJson(res, 200, taskView(task))
    return true
  }
  if (req.method === 'DELETE') {
    const task = deps.tasks.get(id)
    if (!task || !deps.tasks.end(id, 'deleted')) {
      sendJson(res, 404, { error: 'not_found', reason: 'no such task (unknown, ended or expired)' })
      return true
    }
    // The registry's 'ended' event already started revocation in the broker; awaiting here as
    // well (revokeTask is idempotent) lets the caller know revocation has completed.
    if (deps.revokeTask) await deps.revokeTask(id)
    sendJson(res, 200, { ...taskView(task), ended: true })
    return true
  }
  return methodNotAllowed(req, res, 'GET, DELETE')
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' })
  res.end(text)
}

function methodNotAllowed(req: IncomingMessage, res: ServerResponse, allow: string): boolean {
  req.resume()
  res.setHeader('allow', allow)
  sendJson(res, 405, { error: 'method_not_allowed', reason: `use ${allow}` })
  return true
}

/** Reads a bounded JSON body; on failure it has already answered (400/411/413/415). */
export async function readJsonBody(req: IncomingMessage, res: ServerResponse, maxBytes = MAX_ADMIN_BODY_BYTES): Promise<{ ok: true; value: unknown } | { ok: false }> {
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/json') {
    req.resume()
    sendJson(res, 415, { error: 'unsupported_media_type', reason: 'send Content-Type: application/json' })
    return { ok: false }
  }
  const declared = req.headers['content-length']
  if (declared !== undefined && Number(declared) > maxBytes) {
    req.resume()
    res.setHeader('connection', 'close')
    sendJson(res, 413, { error: 'body_too_large', reason: `body must be at most ${maxBytes} bytes` })
    return { ok: false }
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > maxBytes) {
      res.setHeader('connection', 'close')
      sendJson(res, 413, { error: 'body_too_large', reason: `body must be at most ${maxBytes} bytes` })
      req.destroy()
      return { ok: false }
    }
    chunks.push(chunk as Buffer)
  }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) }
  } catch {
    sendJson(res, 400, { error: 'invalid_json', reason: 'body is not valid JSON' })
    return { ok: false }
  }
}
