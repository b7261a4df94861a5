// Plain-HTTP proxy overhead: the same open-loop load (default 2,000 req/s) sent straight to an
// upstream and through toolgate (allowed route, real policy engine, records on), in one run on
// the same machine. Reports req/s, latency percentiles, the added latency as differences and
// ratios, closed-loop maximum throughput, and toolgate's RSS.
//   node bench/proxy/run.ts [--rate 2000] [--seconds 10] [--connections 32]
import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { addedLatency, latencyRatio, maxThroughput, r3, rssMiB, runLoad, type LoadResult } from '../lib/loadgen.ts'
import { repoRoot, startChild } from '../lib/processes.ts'

const { values } = parseArgs({ options: { rate: { type: 'string', default: '2000' }, seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '32' } } })
const rate = Number(values.rate)
const durationMs = Number(values.seconds) * 1000
const connections = Number(values.connections)
const node = process.execPath

const upstream = await startChild(node, ['bench/lib/upstream-server.ts'], /listening (\d+)/)
const upPort = Number(upstream.ready[1])
const dir = mkdtempSync(join(tmpdir(), 'toolgate-bench-'))
const configFile = join(dir, 'toolgate.yaml')
writeFileSync(configFile, `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
logging: { level: info, records: ${join(dir, 'records.jsonl')} }
tools:
  - name: bench
    match: { scheme: http, host: 127.0.0.1, port: ${upPort} }
    routes:
      - { methods: [GET], path: "/v1/items/{id}" }
`)
const startedAt = performance.now()
const gate = await startChild(node, ['bin/toolgate.js', 'run', '--config', configFile], /"proxy":"http:\/\/127\.0\.0\.1:(\d+)"/, { stream: 'stderr' })
const readyMs = performance.now() - startedAt
const gatePort = Number(gate.ready[1])

const load = (origin: string, path: string): Promise<LoadResult> => runLoad({ origin, path, rate, durationMs, connections, warmupMs: 2000 })
const rssIdle = await rssMiB(gate.proc.pid!)
const direct = await load(`http://127.0.0.1:${upPort}`, '/v1/items/42')
const via = await load(`http://127.0.0.1:${gatePort}`, '/t/bench/v1/items/42')
const rssLoaded = await rssMiB(gate.proc.pid!)
const maxDirect = await maxThroughput({ origin: `http://127.0.0.1:${upPort}`, path: '/v1/items/42', durationMs: 5000, connections })
const maxVia = await maxThroughput({ origin: `http://127.0.0.1:${gatePort}`, path: '/t/bench/v1/items/42', durationMs: 5000, connections })
const rssPeak = await rssMiB(gate.proc.pid!)
await gate.stop()
await upstream.stop()

const row = (name: string, r: LoadResult) => ({ name, sent: r.sent, errors: r.errors, rps: Math.round(r.achievedRate), p50_ms: r3(r.latencyMs.p50), p99_ms: r3(r.latencyMs.p99), p999_ms: r3(r.latencyMs.p999), max_ms: r3(r.latencyMs.max) })
const result = {
  bench: 'proxy-http',
  when: new Date().toISOString(),
  node: process.version,
  rate,
  seconds: durationMs / 1000,
  connections,
  rows: [row('direct', direct), row('toolgate', via)],
  added_ms: addedLatency(via.latencyMs, direct.latencyMs),
  ratio: latencyRatio(via.latencyMs, direct.latencyMs),
  max_rps: { direct: Math.round(maxDirect.rps), toolgate: Math.round(maxVia.rps), ratio: r3(maxVia.rps / maxDirect.rps), errors: maxDirect.errors + maxVia.errors },
  toolgate_rss_mib: { idle: r3(rssIdle), after_rate_load: r3(rssLoaded), after_max_load: r3(rssPeak) },
  toolgate_ready_ms: Math.round(readyMs),
}
console.table(result.rows)
console.log(JSON.stringify({ added_ms: result.added_ms, ratio: result.ratio, max_rps: result.max_rps, rss_mib: result.toolgate_rss_mib, ready_ms: result.toolgate_ready_ms }, null, 2))
mkdirSync(join(repoRoot, 'bench/results'), { recursive: true })
writeFileSync(join(repoRoot, 'bench/results/proxy.json'), JSON.stringify(result, null, 2))
