// Added latency of an MCP tools/call through toolgate vs straight to the MCP server, in one run:
// the same open-loop load (default 300 calls/s) of JSON-RPC `tools/call echo` POSTs to a real MCP
// server (official SDK, Streamable HTTP, stateless, JSON responses: bench/lib/mcp-server.ts),
// first direct, then through a `toolgate run` process (route prefix, real policy engine, records
// on, MCP rules configured). Also reports the in-process cost of the MCP stage itself (strict
// parse + name rules, per call), which is what the MCP stage adds on top of the HTTP proxy path.
//   node bench/mcp/run.ts [--rate 300] [--seconds 10] [--connections 16]
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { addedLatency, latencyRatio, r3, runLoad, summarize, type LoadResult } from '../lib/loadgen.ts'
import { startChild } from '../lib/processes.ts'
import { startToolgateProcess } from '../lib/toolgate-process.ts'
import { parseMcpBody } from '../../proxy/src/classify/mcp/parse.ts'
import { compileMcpRules, mcpToolAllowed } from '../../proxy/src/classify/mcp/rules.ts'

const { values } = parseArgs({ options: { rate: { type: 'string', default: '300' }, seconds: { type: 'string', default: '10' }, connections: { type: 'string', default: '16' } } })
const rate = Number(values.rate)
const durationMs = Number(values.seconds) * 1000
const connections = Number(values.connections)

const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello from the benchmark' } } })
const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' }

const server = await startChild(process.execPath, ['bench/lib/mcp-server.ts'], /listening (\d+)/)
const port = Number(server.ready[1])
const dir = mkdtempSync(join(tmpdir(), 'toolgate-bench-mcp-'))
const gate = await startToolgateProcess(dir, `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
logging: { level: info, records: ${join(dir, 'records.jsonl')} }
policy:
  data: { task_required_for: [] }
tools:
  - name: mcp
    match: { scheme: http, host: 127.0.0.1, port: ${port} }
    routes:
      - { methods: [POST], path: "/mcp", access: read }
    mcp:
      allow_tools: [echo]
      deny_tools: ["delete_*"]
`)

const load = (origin: string, path: string): Promise<LoadResult> => runLoad({ origin, path, method: 'POST', headers, body, rate, durationMs, connections, warmupMs: 2000 })
const direct = await load(`http://127.0.0.1:${port}`, '/mcp')
const via = await load(gate.proxyUrl, '/t/mcp/mcp')
await gate.stop()
await server.stop()

// The MCP stage on its own: parse (strict, duplicate keys, ids) + name rules, per call.
const rules = compileMcpRules({ allow_tools: ['echo'], deny_tools: ['delete_*'] })
const buf = Buffer.from(body)
const n = 20_000
const samples = new Float64Array(n)
for (let i = 0; i < n; i++) {
  const t0 = performance.now()
  const p = parseMcpBody(buf, 'application/json', 1 << 20)
  if (!p.ok || !mcpToolAllowed(rules, p.messages[0]!.call.toolName!).allowed) throw new Error('bench body not allowed')
  samples[i] = performance.now() - t0
}
const stage = summarize(samples.sort())

const row = (name: string, r: LoadResult) => ({ name, sent: r.sent, errors: r.errors, statuses: r.statuses, rps: Math.round(r.achievedRate), p50_ms: r3(r.latencyMs.p50), p90_ms: r3(r.latencyMs.p90), p99_ms: r3(r.latencyMs.p99), p999_ms: r3(r.latencyMs.p999), max_ms: r3(r.latencyMs.max), lag_p99_ms: r3(r.lagMs.p99) })
console.log(JSON.stringify({
  bench: 'mcp-tools-call',
  when: new Date().toISOString(),
  node: process.version,
  rate,
  seconds: durationMs / 1000,
  connections,
  rows: [row('direct', direct), row('toolgate', via)],
  added_ms: addedLatency(via.latencyMs, direct.latencyMs),
  ratio: latencyRatio(via.latencyMs, direct.latencyMs),
  mcp_stage_us: { p50: r3(stage.p50 * 1000), p99: r3(stage.p99 * 1000), p999: r3(stage.p999 * 1000), mean: r3(stage.mean * 1000) },
}, null, 2))
