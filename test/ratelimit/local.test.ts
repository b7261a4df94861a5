// Local rate limits through a real toolgate (real listeners, real policy engine on the embedded
// bundle, real upstream on loopback): 429 with Retry-After and the IETF RateLimit headers, the
// upstream never sees a refused call, buckets per tool / route / task, report mode, metrics,
// the remaining budget in the policy input, MCP JSON-RPC -32029; and the bucket arithmetic
// against an explicit model (property-based).
import t from 'tap'
import fc from 'fast-check'
import { Registry } from 'prom-client'
import { startUpstream } from '../helpers/upstream.ts'
import { viaProxy } from '../helpers/proxy-client.ts'
import { startTestToolgate, testListeners } from '../helpers/toolgate.ts'
import { TaskRegistry } from '../../proxy/src/tasks/registry.ts'
import { PolicyEngine } from '../../proxy/src/decide/policy/engine.ts'
import { policyEngineOptions } from '../../proxy/src/decide/policy/options.ts'
import { silentLogger } from '../../proxy/src/record/log.ts'
import { LocalRateLimiter } from '../../proxy/src/ratelimit/local.ts'
import { compileLimits } from '../../proxy/src/ratelimit/limits.ts'
import { parseConfigText } from '../../proxy/src/config/load.ts'
import type { ToolCall } from '../../proxy/src/classify/toolcall.ts'
import type { PolicyInput } from '../../proxy/src/decide/policy-input.ts'

const up = await startUpstream()
t.teardown(() => up.close())

const tools = `tools:
  - name: echo
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    routes:
      - { name: reads, methods: [GET], path: "/r/**" }
      - { methods: [GET], path: "/other/**" }
`
const get = (proxyUrl: string, path: string, headers: Record<string, string> = {}) => viaProxy(proxyUrl, 'GET', `http://127.0.0.1:${up.port}${path}`, { headers })

t.test('over a per-tool limit: 429, Retry-After, RateLimit headers, record, metric; the upstream sees only allowed calls', async (t) => {
  const gate = await startTestToolgate(`version: 1
${testListeners}rate_limits:
  limits:
    - { name: echo-calls, tool: echo, requests: 2, period_s: 60 }
${tools}`)
  t.teardown(() => gate.close())
  const before = up.received.length
  const a = await get(gate.proxyUrl, '/r/1')
  const b = await get(gate.proxyUrl, '/other/2')
  const c = await get(gate.proxyUrl, '/r/3?token=SECRETVALUE')
  t.same([a.status, b.status, c.status], [200, 200, 429])
  t.equal(up.received.length - before, 2, 'the refused call never left toolgate')
  const retry = Number(c.headers['retry-after'])
  t.ok(retry >= 29 && retry <= 30, `Retry-After ${retry}: one token refills in 30s`)
  t.equal(c.headers['ratelimit-policy'], '"echo-calls";q=2;w=60')
  t.equal(c.headers['ratelimit'], `"echo-calls";r=0;t=${retry}`)
  const body = c.json<{ error: { message: string; type: string; code: string; decision_id: string; retry_after_s: number } }>().error
  t.same([body.code, body.type], ['rate_limited', 'rate_limit_error'])
  t.equal(body.retry_after_s, retry)
  t.match(body.message, /rate limit echo-calls exceeded \(2 per 60s\)/)
  const rec = gate.records.find((r) => r['id'] === body.decision_id)!
  t.same({ decision: rec['decision'], stage: rec['stage'], status: rec['status'] }, { decision: 'deny', stage: 'rate_limit', status: 429 })
  t.notMatch(JSON.stringify(gate.records), /SECRETVALUE/)
  const metrics = await (await fetch(`${gate.adminUrl}/metrics`)).text()
  t.match(metrics, /toolgate_rate_limit_total\{limit="echo-calls",result="limited"\} 1/)
  t.match(metrics, /toolgate_requests_total\{tool="echo",decision="deny",stage="rate_limit"\} 1/)
})

t.test('a route limit counts only its route; denied calls take no token', async (t) => {
  const gate = await startTestToolgate(`version: 1
${testListeners}rate_limits:
  limits:
    - { name: reads, tool: echo, route: reads, requests: 1, period_s: 3600 }
${tools}`)
  t.teardown(() => gate.close())
  t.equal((await get(gate.proxyUrl, '/nope')).status, 403, 'allowlist deny')
  t.equal((await get(gate.proxyUrl, '/r/a')).status, 200, 'the deny took no token')
  t.equal((await get(gate.proxyUrl, '/r/b')).status, 429)
  t.equal((await get(gate.proxyUrl, '/other/x')).status, 200, 'another route is not limited')
  t.equal((await get(gate.proxyUrl, '/other/y')).status, 200)
})

t.test('per task: each task has its own bucket; the policy sees the remaining budget', async (t) => {
  const tasks = new TaskRegistry({ defaultTtlS: 60, maxTtlS: 60, maxTasks: 10 })
  t.teardown(() => tasks.close())
  const inputs: PolicyInput[] = []
  const gateYaml = `version: 1
${testListeners}rate_limits:
  limits:
    - { name: per-task, tool: echo, per: task, requests: 2, period_s: 3600, burst: 2 }
${tools}`
  // The real policy engine on the embedded bundle, wrapped only to see the input it is given.
  const parsed = parseConfigText(gateYaml, '/tmp/x.yaml')
  if (!parsed.ok) throw new Error('config')
  const engine = await PolicyEngine.start(policyEngineOptions(parsed.config.policy, new Registry(), silentLogger))
  const policy = {
    evaluate: (input: PolicyInput) => { inputs.push(input); return engine.evaluate(input) },
    readiness: () => engine.readiness(),
    close: () => engine.close(),
  }
  const gate = await startTestToolgate(gateYaml, { services: { tasks, credentials: null, approvals: null }, policy })
  t.teardown(() => gate.close())
  const one = tasks.create({ intent: 'one', tools: ['echo'] })
  const two = tasks.create({ intent: 'two', tools: ['echo'] })
  if (!one.ok || !two.ok) throw new Error('tasks')
  const as = (id: string) => ({ 'toolgate-task': id })
  const statuses = []
  for (const id of [one.task.id, one.task.id, one.task.id, two.task.id, two.task.id, two.task.id]) statuses.push((await get(gate.proxyUrl, '/r/x', as(id))).status)
  t.same(statuses, [200, 200, 429, 200, 200, 429])
  t.same(inputs.slice(0, 3).map((i) => i.rate_limits['per-task']?.remaining), [2, 1, 0], 'input.rate_limits before each call of task one')
  t.same(inputs[0]!.rate_limits['per-task'], { remaining: 2, requests: 2, period_s: 3600, burst: 2, reset_s: 0, scope: 'local' })
  t.equal(inputs[3]!.rate_limits['per-task']?.remaining, 2, 'task two starts full')
})

t.test('report mode records would_deny and lets the call through', async (t) => {
  const gate = await startTestToolgate(`version: 1
mode: report
${testListeners}rate_limits:
  limits:
    - { name: one, requests: 1, period_s: 3600 }
${tools}`)
  t.teardown(() => gate.close())
  t.equal((await get(gate.proxyUrl, '/r/1')).status, 200)
  t.equal((await get(gate.proxyUrl, '/r/2')).status, 200)
  t.same(gate.records.map((r) => [r['decision'], r['stage'] ?? null]), [['allow', null], ['would_deny', 'rate_limit']])
})

t.test('MCP: a limited tools/call is a JSON-RPC error -32029 with the retry time', async (t) => {
  const gate = await startTestToolgate(`version: 1
${testListeners}rate_limits:
  limits:
    - { name: search-calls, tool: mcp, mcp_tool: search, requests: 1, period_s: 120 }
tools:
  - name: mcp
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    routes:
      - { methods: [POST], path: "/mcp", access: read }
    mcp: { path: /mcp, allow_tools: ["*"], tool_access: { "*": read } }
`)
  t.teardown(() => gate.close())
  const call = (id: number, name: string) => viaProxy(gate.proxyUrl, 'POST', `http://127.0.0.1:${up.port}/mcp`, {
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: {} } }),
  })
  t.equal((await call(1, 'search')).status, 200)
  t.equal((await call(2, 'fetch')).status, 200, 'another MCP tool is not limited')
  const limited = await call(3, 'search')
  t.equal(limited.status, 200, 'Streamable HTTP clients read JSON-RPC errors only from a 2xx')
  const msg = limited.json<{ id: number; error: { code: number; message: string; data: { retry_after_s: number; decision_id: string } } }>()
  t.equal(msg.id, 3)
  t.equal(msg.error.code, -32029)
  t.ok(msg.error.data.retry_after_s >= 119 && msg.error.data.retry_after_s <= 120)
  t.match(msg.error.message, /rate limit search-calls exceeded/)
  t.ok(limited.headers['retry-after'], 'Retry-After is sent as well')
})

t.test('config errors: unknown tool, route without tool, duplicate names, global without service', async (t) => {
  const r = parseConfigText(`version: 1
rate_limits:
  limits:
    - { name: a, tool: ehco, requests: 1 }
    - { name: a, route: reads, requests: 1 }
    - { name: b, requests: 1, scope: global }
${tools}`, '/tmp/c.yaml')
  t.equal(r.ok, false)
  const messages = r.ok ? '' : r.errors.map((e) => `${e.path}: ${e.message}`).join('\n')
  t.match(messages, /rate_limits\.limits\[0\]\.tool: no tool named 'ehco' in tools \(did you mean 'echo'\?\)/)
  t.match(messages, /duplicate rate limit name 'a'/)
  t.match(messages, /a route limit needs tool/)
  t.match(messages, /a global limit needs rate_limits.service/)
})

const call = (taskId: string | null): ToolCall => ({
  id: 'x', via: 'forward', method: 'GET', target: { scheme: 'http', host: 'h', hostIsIp: false, port: 80, path: '/', query: '' },
  tool: 'echo', route: null, access: 'read', classification: null, labels: {}, headers: {}, mcp: null, taskId, upgrade: false,
})
const agent = { namespace: null, service_account: null, pod: null, spiffe_id: null, labels: {} }

t.test('property: over any schedule, allowed calls never exceed burst + rate × elapsed, and a call is refused only when the model bucket is empty', async (t) => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 120 }),
    fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 200 }),
    (requests, burst, periodS, gaps) => {
      let now = 0
      const limiter = new LocalRateLimiter({ limits: compileLimits([{ name: 'l', requests, burst, period_s: periodS }]), maxBuckets: 10, now: () => now })
      const rate = requests / periodS
      let model = burst
      let allowed = 0
      for (const gap of gaps) {
        now += gap
        model = Math.min(burst, model + (gap / 1000) * rate)
        const v = limiter.take(call(null), agent)
        // Allowed exactly when the model bucket holds a whole token (float noise at the edge aside).
        if (Math.abs(model - 1) > 1e-6 && v.ok !== model >= 1) return false
        if (v.ok) { allowed++; model = Math.max(0, model - 1) }
        if (!v.ok && (v.retryAfterS < 1 || v.retryAfterS > Math.ceil(periodS / requests) + 1)) return false
        if (allowed > burst + (now / 1000) * rate + 1e-6) return false
      }
      return true
    },
  ), { numRuns: 300 })
  t.pass('holds')
})

t.test('buckets are bounded; a reload keeps the tokens of an unchanged limit and resets a changed one', async (t) => {
  let now = 0
  const limits = compileLimits([{ name: 'l', per: 'task', requests: 1, period_s: 3600 }])
  const limiter = new LocalRateLimiter({ limits, maxBuckets: 3, now: () => now })
  for (let i = 0; i < 50; i++) limiter.take(call(`task-${i}`), agent)
  t.equal(limiter.size, 3, 'never more buckets than max_buckets')
  t.equal(limiter.take(call('task-49'), agent).ok, false)
  limiter.update(compileLimits([{ name: 'l', per: 'task', requests: 1, period_s: 3600 }]), 3)
  t.equal(limiter.take(call('task-49'), agent).ok, false, 'same definition: still empty')
  limiter.update(compileLimits([{ name: 'l', per: 'task', requests: 2, period_s: 3600 }]), 3)
  t.equal(limiter.take(call('task-49'), agent).ok, true, 'new definition: a fresh bucket')
  now += 1
})
