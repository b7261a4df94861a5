// Global rate limits with real components: Redis, the real envoyproxy/ratelimit service and two
// toolgate processes (`toolgate run`) sharing one limit through it. Then the service goes away:
// fail closed (503, recorded) by default, and failure_mode: allow lets calls through (recorded).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startUpstream } from '../helpers/upstream.ts'
import { viaProxy } from '../helpers/proxy-client.ts'
import { startRateLimitService, startRedis, startToolgateProcess } from './helpers/services.ts'

const up = await startUpstream()
t.teardown(() => up.close())
const redis = await startRedis()
t.teardown(() => redis.stop())
const rls = await startRateLimitService(redis.port, `domain: toolgate
descriptors:
  - key: toolgate_limit
    value: shared-echo
    descriptors:
      - key: tool
        rate_limit:
          unit: hour
          requests_per_unit: 3
`)
t.teardown(() => rls.stop())

const config = (failureMode: 'deny' | 'allow') => `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: $PROXY_PORT }
  admin: { host: 127.0.0.1, port: $ADMIN_PORT }
  control: { host: 127.0.0.1, port: 0 }
logging: { level: warn, records: records.jsonl }
rate_limits:
  service: { address: "127.0.0.1:${rls.port}", domain: toolgate, timeout_ms: 500, failure_mode: ${failureMode} }
  limits:
    - { name: shared-echo, tool: echo, requests: 3, period_s: 3600, scope: global }
tools:
  - name: echo
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    routes:
      - { methods: [GET], path: "/**" }
`

const records = (dir: string) => readFileSync(join(dir, 'records.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r['type'] === 'decision')

t.test('two toolgate processes share one limit; over it: 429 with Retry-After; service gone: fail closed or open as configured', async (t) => {
  const a = await startToolgateProcess(config('deny'))
  t.teardown(() => a.stop())
  const b = await startToolgateProcess(config('allow'))
  t.teardown(() => b.stop())
  const before = up.received.length
  const statuses: number[] = []
  const answers = []
  for (const gate of [a, b, a, b, a]) {
    const r = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/x`)
    statuses.push(r.status)
    answers.push(r)
  }
  t.same(statuses, [200, 200, 200, 429, 429], 'three calls in total across both processes, then refused in both')
  t.equal(up.received.length - before, 3, 'refused calls never reached the upstream')
  const limited = answers[3]!
  t.ok(Number(limited.headers['retry-after']) >= 1 && Number(limited.headers['retry-after']) <= 3600, `Retry-After ${limited.headers['retry-after']}`)
  t.equal(limited.headers['ratelimit-policy'], '"shared-echo";q=3;w=3600', 'quota and window as the service reported them')
  t.match(limited.json<{ error: { message: string } }>().error.message, /global rate limit shared-echo exceeded \(3 per 3600s\)/)

  await rls.stop()
  const closed = await viaProxy(a.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/y`)
  t.equal(closed.status, 503, 'failure_mode deny (the default): fail closed')
  t.match(closed.json<{ error: { code: string; message: string } }>(), { error: { code: 'rate_limit_unavailable', type: 'rate_limit_error', message: /rate limit service unavailable \(gRPC status \d+\); failing closed/ } })
  t.notMatch(closed.body, String(rls.port), 'the service address is not told to the agent')
  const open = await viaProxy(b.proxyUrl, 'GET', `http://127.0.0.1:${up.port}/y`)
  t.equal(open.status, 200, 'failure_mode allow: the call passes')
  const metricsA = await (await fetch(`${a.adminUrl}/metrics`)).text()
  t.match(metricsA, /toolgate_rate_limit_total\{limit="service",result="unavailable_denied"\} 1/)
  t.match(metricsA, /toolgate_rate_limit_total\{limit="shared-echo",result="limited"\} 1/)
  await a.stop()
  await b.stop()
  const ra = records(a.dir)
  const rb = records(b.dir)
  t.same(ra.map((r) => [r['status'], r['stage'] ?? null]), [[200, null], [200, null], [429, 'rate_limit'], [503, 'rate_limit']])
  t.ok(ra.at(-1)!['error'], 'the record keeps the detail of the failure')
  t.same(rb.map((r) => r['status']), [200, 429, 200])
  t.match(String((rb.at(-1)!['reasons'] as string[]).join(' ')), /rate limit service unavailable.*allowed \(failure_mode: allow\)/, 'the fail-open pass is recorded')
})
