// Task API on the control listener. Every call authenticates (the agent shares the pod's
// loopback, so the address is no protection):
//   POST   /v1/tasks  with a Txn-Token header (a signed task grant, trust/grants.ts)
//                     → 201 {id, expires_at, source: "issuer", ...} (200 when its task is already open)
//   POST   /v1/tasks  {intent, tools, ttl_s?} without a grant: an agent-declared task, only when
//                     tasks.agent_declared is on → 201 {..., source: "agent", owner_token}; else 401
//   GET    /v1/tasks/<id>  → 200 task | 401 | 403 | 404
//   DELETE /v1/tasks/<id>  → 200 {id, ended: true} (its credentials are dropped and revoked)
// GET and DELETE need the task's owner: for a grant's task, a bearer JWT signed by the same
// issuer for this trust domain (never a task grant itself: the agent holds those); for an
// agent-declared task, the owner_token handed out when it was declared.
// Bodies are bounded and must be JSON; every refusal says precisely what was wrong.

import type { IncomingMessage, ServerResponse } from 'node:http'
import { taskView, type Task, type TaskRegistry } from '../tasks/registry.ts'
import { TXN_TOKEN_TYP, type GrantIssuer, type TaskGrants } from '../trust/grants.ts'
import { APPROVAL_TYP } from '../trust/approvers.ts'
import { verifyJwt } from '../trust/verify.ts'

export const MAX_ADMIN_BODY_BYTES = 16 * 1024

export interface TasksApiDeps {
  tasks: TaskRegistry
  /** Tool names of the current config: a task declaring an unknown tool is refused (typos). */
  knownTools?: () => ReadonlySet<string>
  /** Awaited by DELETE so the answer comes after revocation (the broker's revokeTask). */
  revokeTask?: (taskId: string) => Promise<void>
  /** Verifies task grants; absent: no grants are accepted. */
  grants?: TaskGrants
  /** tasks.agent_declared: unsigned POST /v1/tasks is accepted. Default false. */
  agentDeclared?: () => boolean
  /** Task issuers and this trust domain, to authenticate an issuer that ends or reads its task. */
  issuers?: () => readonly GrantIssuer[]
  audience?: () => string | null
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/

export async function handleTasksApi(req: IncomingMessage, res: ServerResponse, url: URL, deps: TasksApiDeps): Promise<boolean> {
  if (url.pathname === '/v1/tasks') {
    if (req.method !== 'POST') return methodNotAllowed(req, res, 'POST')
    const grant = req.headers['txn-token']
    if (grant !== undefined) {
      req.resume()
      if (typeof grant !== 'string' || grant === '') return refuse(res, 400, 'invalid_request', 'send exactly one Txn-Token header')
      if (!deps.grants) return refuse(res, 401, 'invalid_grant', 'task grant refused: no task issuers are configured (tasks.issuers)')
      const r = await deps.grants.resolve(grant)
      if (!r.ok) return refuse(res, 401, 'invalid_grant', r.reason)
      res.setHeader('location', `/v1/tasks/${r.task.id}`)
      sendJson(res, r.opened ? 201 : 200, taskView(r.task))
      return true
    }
    if (!(deps.agentDeclared?.() ?? false)) {
      req.resume()
      return refuse(res, 401, 'unauthenticated', 'tasks come from signed task grants (Txn-Token header); agent-declared tasks are off (tasks.agent_declared)')
    }
    const body = await readJsonBody(req, res)
    if (!body.ok) return true
    const known = deps.knownTools?.()
    const created = deps.tasks.create(body.value, known ? { knownTools: known } : {})
    if (!created.ok) {
      sendJson(res, created.error.status, { error: created.error.error, reason: created.error.reason })
      return true
    }
    res.setHeader('location', `/v1/tasks/${created.task.id}`)
    sendJson(res, 201, { ...taskView(created.task), owner_token: created.ownerToken })
    return true
  }
  const m = /^\/v1\/tasks\/([A-Za-z0-9_-]{1,64})$/.exec(url.pathname)
  if (!m) {
    if (url.pathname.startsWith('/v1/tasks/')) {
      req.resume()
      sendJson(res, 404, { error: 'not_found', reason: 'no such task' })
      return true
    }
    return false
  }
  const id = m[1]!
  if (req.method !== 'GET' && req.method !== 'DELETE') return methodNotAllowed(req, res, 'GET, DELETE')
  req.resume()
  const bearer = BEARER.exec(req.headers['authorization'] ?? '')?.[1]
  if (bearer === undefined) return refuse(res, 401, 'unauthenticated', "reading or ending a task needs its owner's credential (Authorization: Bearer <issuer token or owner_token>)")
  const task = deps.tasks.get(id)
  if (!task) return refuse(res, 404, 'not_found', 'no such task (unknown, ended or expired)')
  const owner = await isOwner(task, bearer, deps)
  if (!owner.ok) return refuse(res, 403, 'forbidden', owner.reason)
  if (req.method === 'GET') {
    sendJson(res, 200, taskView(task))
    return true
  }
  if (!deps.tasks.end(id, 'deleted')) return refuse(res, 404, 'not_found', 'no such task (unknown, ended or expired)')
  // The registry's 'ended' event already started revocation in the broker; awaiting here as
  // well (revokeTask is idempotent) lets the caller know revocation has completed.
  if (deps.revokeTask) await deps.revokeTask(id)
  sendJson(res, 200, { ...taskView(task), ended: true })
  return true
}

/** Only the identity that opened a task may read or end it. */
async function isOwner(task: Task, bearer: string, deps: TasksApiDeps): Promise<{ ok: true } | { ok: false; reason: string }> {
  if (task.source === 'agent') {
    return deps.tasks.ownerMatches(task, bearer) ? { ok: true } : { ok: false, reason: 'not the owner of this agent-declared task (the owner_token it was created with is needed)' }
  }
  const issuer = deps.issuers?.().find((i) => i.name === task.issuer)
  const audience = deps.audience?.() ?? null
  if (!issuer || audience === null) return { ok: false, reason: `the issuer of this task (${task.issuer ?? 'unknown'}) is no longer configured` }
  // A task grant is not accepted here: the agent holds its grants, and ending a task is the issuer's call.
  const v = await verifyJwt(bearer, [issuer], { what: 'issuer token', audience, forbiddenTyp: [TXN_TOKEN_TYP, APPROVAL_TYP] })
  return v.ok ? { ok: true } : { ok: false, reason: `only issuer ${issuer.name}, which granted this task, may read or end it: ${v.reason}` }
}

function refuse(res: ServerResponse, status: number, error: string, reason: string): boolean {
  if (status === 401) res.setHeader('www-authenticate', 'Bearer realm="toolgate-control"')
  sendJson(res, status, { error, reason })
  return true
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
