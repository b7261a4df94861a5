// The MCP tasks extension through toolgate: a task id is usable (tasks/get, tasks/cancel, ...) only
// when toolgate saw it created, for the same toolgate task, while that task is alive. The upstream
// is a plain node:http server scripted to answer a task-augmented tools/call with a CreateTaskResult
// (none of the SDK servers available here runs tools as tasks over HTTP); the binding logic is also
// tested directly.

import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'
import { startTestToolgate, testListeners } from '../helpers/toolgate.ts'
import { McpTaskBinding, createdTaskId } from '../../proxy/src/classify/mcp/task-binding.ts'
import { listenOnLoopback } from '../helpers/upstream.ts'

const reached: string[] = []
const upstream = createServer((req, res) => {
  let body = ''
  req.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => {
    const msg = JSON.parse(body) as { id: number; method: string; params?: { taskId?: string } }
    reached.push(`${msg.method} ${msg.params?.taskId ?? ''}`.trim())
    const result = msg.method === 'tools/call'
      ? { task: { taskId: 'task-created-1', status: 'working', createdAt: '2026-12-02T00:00:00Z', ttl: 60000 } }
      : { taskId: msg.params?.taskId, status: 'working' }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result }))
  })
})
await listenOnLoopback(upstream, t)

const gate = await startTestToolgate(`version: 1
${testListeners}
policy:
  data: { task_required_for: [] }
tools:
  - name: tasks-mcp
    match: { scheme: http, host: 127.0.0.1, port: ${(upstream.address() as AddressInfo).port} }
    mcp:
      allow_tools: ["get_*"]
`)
t.teardown(() => gate.close())

async function rpc(method: string, params: Record<string, unknown>, id = 1): Promise<{ status: number; json: { result?: { isError?: boolean }; error?: { code: number; message: string } } }> {
  const r = await request(`${gate.proxyUrl}/t/tasks-mcp/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id, method, params }) })
  return { status: r.statusCode, json: JSON.parse(await r.body.text()) }
}

t.test('a task id toolgate did not see created is refused; one it saw created works', async (t) => {
  const foreign = await rpc('tasks/get', { taskId: 'someone-elses-task' })
  t.equal(foreign.json.error?.code, -32001)
  t.match(foreign.json.error?.message, /MCP task "someone-elses-task" was not created through toolgate/)
  t.notOk(reached.includes('tasks/get someone-elses-task'), 'never reached the server')
  const created = await rpc('tools/call', { name: 'get_report', arguments: {}, task: { ttl: 60000 } }, 2)
  t.match(created.json.result, { task: { taskId: 'task-created-1' } })
  const get = await rpc('tasks/get', { taskId: 'task-created-1' }, 3)
  t.match(get.json.result, { taskId: 'task-created-1', status: 'working' })
  const cancel = await rpc('tasks/cancel', { taskId: 'task-created-1' }, 4)
  t.notOk(cancel.json.error)
  t.same(reached, ['tools/call', 'tasks/get task-created-1', 'tasks/cancel task-created-1'])
})

t.test('binding: same toolgate task only, and only while it is alive', async (t) => {
  const b = new McpTaskBinding()
  const alive = new Set(['tsk_a', 'tsk_b'])
  const isAlive = (id: string): boolean => alive.has(id)
  b.bind('mcp', 'm1', 'tsk_a')
  b.bind('mcp', 'm1', 'tsk_b')
  t.equal(b.refusal('mcp', 'm1', 'tsk_a', isAlive), null)
  t.match(b.refusal('mcp', 'm1', 'tsk_b', isAlive), /another toolgate task/, 'a later response cannot move a task')
  t.match(b.refusal('other-mcp', 'm1', 'tsk_a', isAlive), /not created through toolgate/, 'bound per MCP server')
  alive.delete('tsk_a')
  t.match(b.refusal('mcp', 'm1', 'tsk_a', isAlive), /has ended/, 'refused once its toolgate task ended (credentials revoked)')
  t.equal(createdTaskId({ task: { taskId: 'x' } }), 'x')
  t.equal(createdTaskId({ content: [] }), null)
  t.equal(createdTaskId({ task: { taskId: 7 } }), null)
})
