// Bounds of the MCP task cancels at task end (tasks/mcp-cancel.ts), against a real node:http
// upstream that holds each tasks/cancel for a while: no more than the concurrency bound in flight,
// no more than MAX_CANCELS_PER_TASK sent (the rest recorded as skipped), one record each.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { testConfig, testListeners } from '../helpers/toolgate.ts'
import { buildRuntime } from '../../proxy/src/listen/runtime.ts'
import { cancelMcpTasks, MAX_CANCELS_PER_TASK } from '../../proxy/src/tasks/mcp-cancel.ts'
import type { BoundMcpTask } from '../../proxy/src/classify/mcp/task-binding.ts'
import { listenOnLoopback } from '../helpers/upstream.ts'

let inFlight = 0
let maxInFlight = 0
let received = 0
const upstream = createServer((req, res) => {
  let body = ''
  inFlight++
  received++
  maxInFlight = Math.max(maxInFlight, inFlight)
  req.setEncoding('utf8').on('data', (c: string) => { body += c }).on('end', () => {
    const msg = JSON.parse(body) as { id: string; params: { taskId: string } }
    setTimeout(() => {
      inFlight--
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: { taskId: msg.params.taskId, status: 'cancelled' } }))
    }, 20)
  })
})
await listenOnLoopback(upstream, t)
const port = (upstream.address() as AddressInfo).port

const rt = buildRuntime(testConfig(`version: 1
${testListeners}tools:
  - name: jobs
    match: { scheme: http, host: 127.0.0.1, port: ${port} }
    mcp: {}
`))
t.teardown(() => rt.pools.close())

t.test('concurrency and count are bounded; every MCP task gets one record', async (t) => {
  const target = { origin: `http://127.0.0.1:${port}`, path: '/mcp', host: `127.0.0.1:${port}`, sessionId: null, protocolVersion: null, metaVersion: null, mirroredHeaders: false }
  const bound: BoundMcpTask[] = Array.from({ length: MAX_CANCELS_PER_TASK + 5 }, (_, i) => ({ tool: 'jobs', mcpTaskId: `job-${i}`, target }))
  const records: Record<string, unknown>[] = []
  await cancelMcpTasks('tsk_x', bound, { runtime: () => rt, heldCredential: () => null, records: { write: (r) => { records.push(r) } }, concurrency: 3 })
  t.equal(received, MAX_CANCELS_PER_TASK, `at most ${MAX_CANCELS_PER_TASK} cancels sent`)
  t.ok(maxInFlight <= 3, `at most 3 in flight (saw ${maxInFlight})`)
  t.equal(records.length, bound.length, 'one record per MCP task')
  t.equal(records.filter((r) => r.outcome === 'cancelled').length, MAX_CANCELS_PER_TASK)
  t.equal(records.filter((r) => r.outcome === 'skipped').length, 5)
})
