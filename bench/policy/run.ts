// Decision latency: toolgate's in-process pattern (allowlist lookup + WASM evaluation of the
// embedded default bundle) side by side, in one run, with the external-PDP pattern (the same
// allowlist lookup + one REST call per decision to `opa run --server` on loopback, serving the
// same Rego from policy/src, over a keep-alive undici connection). Sequential decisions (one in
// flight, as a sidecar decides one call), alternating rounds so machine noise hits both alike.
// Reports p50/p90/p99/max per pattern and the ratios REST / in-process.
//   node bench/policy/run.ts [--rounds 3] [--inproc 20000] [--rest 2000] [--json]
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Registry } from 'prom-client'
import { Client } from 'undici'
import { parse as parseYaml } from 'yaml'
import { compileAllowlist } from '../../proxy/src/classify/allowlist.ts'
import type { Tool } from '../../proxy/src/config/schema.gen.ts'
import { PolicyEngine } from '../../proxy/src/decide/policy/engine.ts'
import { POLICY_INPUT_VERSION } from '../../proxy/src/decide/policy-input.ts'
import type { PolicyInput, PolicyResult } from '../../proxy/src/decide/policy-input.ts'
import { silentLogger } from '../../proxy/src/record/log.ts'
import { findOpa, startOpaServer } from '../lib/opa-server.ts'
import { repoRoot } from '../lib/processes.ts'

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    inproc: { type: 'string', default: '20000' },
    rest: { type: 'string', default: '2000' },
    json: { type: 'boolean', default: false },
  },
})
const ROUNDS = Number(values.rounds)
const IN_PROC_PER_ROUND = Number(values.inproc)
const REST_PER_ROUND = Number(values.rest)

// ---- the requests: the default config's allowlist, a mix of reads, task-scoped writes, denials

const config = parseYaml(readFileSync(join(repoRoot, 'config', 'toolgate.default.yaml'), 'utf8')) as { tools: Tool[] }
const allowlist = compileAllowlist(config.tools)
const agent: PolicyInput['agent'] = { namespace: 'agents', service_account: 'research', pod: 'research-0', spiffe_id: null, labels: {} }
const now = new Date()
const task: NonNullable<PolicyInput['task']> = {
  id: 'bench-task', intent: 'benchmark', declared_tools: ['github'], started_at: now.toISOString(),
  expires_at: new Date(now.getTime() + 3_600_000).toISOString(), calls: 12,
  source: 'issuer', issuer: 'bench', limits: { max_calls: null },
}
const requests: Array<{ host: string; method: string; path: string; task: PolicyInput['task'] }> = [
  { host: 'api.github.com', method: 'GET', path: '/repos/openai/gpt/issues', task: null },
  { host: 'api.github.com', method: 'GET', path: '/repos/acme/widgets', task },
  { host: 'api.github.com', method: 'GET', path: '/search/code', task: null },
  { host: 'api.github.com', method: 'GET', path: '/rate_limit', task: { ...task, declared_tools: ['httpbin'] } },
  { host: 'api.github.com', method: 'GET', path: '/repos/acme/widgets/actions/runs', task: null }, // allowlist deny
]

/** Allowlist lookup + PolicyInput, as the decide stage does before the policy. Null: allowlist decided alone. */
function classify(i: number): PolicyInput | null {
  const r = requests[i % requests.length] as (typeof requests)[number]
  const tool = allowlist.matchTarget({ scheme: 'https', host: r.host, port: 443 })
  if (!tool) return null
  const m = allowlist.matchRoute(tool, r.method, r.path)
  if (m.kind !== 'route') return null
  const t = Date.now()
  return {
    version: POLICY_INPUT_VERSION, agent, task: r.task,
    tool: { name: tool.name, access: m.access, data_classification: m.classification, labels: m.labels, route: m.route.pattern, captures: m.route.captures },
    request: { method: r.method, scheme: 'https', host: r.host, port: 443, path: r.path, query: {}, headers: {} },
    mcp: null, rate_limits: {},
    time: { now: new Date(t).toISOString(), now_ns: t * 1e6 },
  }
}

// ---- the two patterns

const engine = await PolicyEngine.start({ source: { kind: 'embedded' }, entrypoint: 'toolgate/decision', registry: new Registry(), logger: silentLogger })
if (!engine.readiness().ready) throw new Error(`embedded bundle not loaded: ${engine.readiness().reason}`)
const opaBin = findOpa()
if (!opaBin) throw new Error('.cache/bin/opa missing: run npm run policy:opa')
const opa = await startOpaServer(opaBin)
const client = new Client(`http://127.0.0.1:${opa.port}`, { pipelining: 1, keepAliveTimeout: 60_000 })

let sink = 0 // keeps results observable so nothing is optimised away
function inProcess(i: number): void {
  const input = classify(i)
  if (input === null) return
  const d = engine.evaluate(input)
  if (d.ok && d.result.allow) sink++
}

async function rest(i: number): Promise<void> {
  const input = classify(i)
  if (input === null) return
  const res = await client.request({ method: 'POST', path: '/v1/data/toolgate/decision', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input }) })
  const body = (await res.body.json()) as { result?: PolicyResult }
  if (res.statusCode === 200 && body.result?.allow) sink++
}

// Both patterns must agree, or the comparison is meaningless.
for (let i = 0; i < requests.length; i++) {
  const input = classify(i)
  if (input === null) continue
  const local = engine.evaluate(input)
  const res = await client.request({ method: 'POST', path: '/v1/data/toolgate/decision', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input }) })
  const remote = ((await res.body.json()) as { result?: unknown }).result
  if (!local.ok || JSON.stringify(local.result.allow) !== JSON.stringify((remote as PolicyResult | undefined)?.allow)) {
    throw new Error(`in-process and REST decisions differ for request ${i}: ${JSON.stringify(local)} vs ${JSON.stringify(remote)}`)
  }
}

const inSamples: number[] = []
const restSamples: number[] = []
for (let i = 0; i < 2000; i++) inProcess(i) // warm-up (JIT)
for (let i = 0; i < 200; i++) await rest(i)
for (let round = 0; round < ROUNDS; round++) {
  for (let i = 0; i < IN_PROC_PER_ROUND; i++) {
    const t0 = process.hrtime.bigint()
    inProcess(i)
    inSamples.push(Number(process.hrtime.bigint() - t0) / 1000)
  }
  for (let i = 0; i < REST_PER_ROUND; i++) {
    const t0 = process.hrtime.bigint()
    await rest(i)
    restSamples.push(Number(process.hrtime.bigint() - t0) / 1000)
  }
}
await client.close()
await opa.stop()
await engine.close()

function stats(xs: number[]): { n: number; p50: number; p90: number; p99: number; max: number; mean: number } {
  const s = Float64Array.from(xs).sort()
  const q = (p: number): number => s[Math.min(s.length - 1, Math.floor(p * s.length))] as number
  return { n: s.length, p50: q(0.5), p90: q(0.9), p99: q(0.99), max: s[s.length - 1] as number, mean: xs.reduce((a, b) => a + b, 0) / xs.length }
}
const a = stats(inSamples)
const b = stats(restSamples)
const ratio = { p50: b.p50 / a.p50, p90: b.p90 / a.p90, p99: b.p99 / a.p99, mean: b.mean / a.mean }
const result = {
  machine: { cpus: (await import('node:os')).cpus().length, loadavg: (await import('node:os')).loadavg().map((x) => Number(x.toFixed(2))) },
  unit: 'microseconds per decision',
  in_process: a,
  rest_pdp: b,
  rest_over_in_process: ratio,
  targets: { in_process_p99_us: 50, min_speedup: 10 },
  sink,
}
if (values.json) {
  process.stdout.write(JSON.stringify(result, null, 2) + '\n')
} else {
  const f = (x: number): string => x.toFixed(1).padStart(9)
  process.stdout.write(`decision latency (µs), ${ROUNDS} alternating rounds, load average ${result.machine.loadavg.join(' ')} on ${result.machine.cpus} cores\n`)
  process.stdout.write(`pattern                         n       p50       p90       p99       max      mean\n`)
  process.stdout.write(`in-process allowlist+WASM ${String(a.n).padStart(7)} ${f(a.p50)} ${f(a.p90)} ${f(a.p99)} ${f(a.max)} ${f(a.mean)}\n`)
  process.stdout.write(`REST to opa run --server  ${String(b.n).padStart(7)} ${f(b.p50)} ${f(b.p90)} ${f(b.p99)} ${f(b.max)} ${f(b.mean)}\n`)
  process.stdout.write(`ratio REST / in-process          ${f(ratio.p50)} ${f(ratio.p90)} ${f(ratio.p99)}           ${f(ratio.mean)}\n`)
  process.stdout.write(`targets: in-process p99 <= 50 µs (${a.p99 <= 50 ? 'met' : 'MISSED'}); >= 10x faster than REST at p50 (${ratio.p50 >= 10 ? 'met' : 'MISSED'})\n`)
}
