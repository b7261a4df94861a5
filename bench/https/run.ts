// HTTPS through toolgate (CONNECT + TLS interception + per-request decision + upstream TLS) vs
// HTTPS direct to the same upstream, in the same run, with keep-alive and with a new connection
// per request. Reports closed-loop req/s and, at a fixed offered rate, latency p50/p99, as ratios.
// Run: node bench/https/run.ts [--seconds N]
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { once } from 'node:events'
import { Agent, ProxyAgent, type Dispatcher } from 'undici'
import { maxThroughput, runLoad } from '../lib/loadgen.ts'
import { makeServerCert, makeTestCa } from '../../test/tls/helpers/https-upstream.ts'

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] ?? 5) || 5
const dir = mkdtempSync(join(tmpdir(), 'toolgate-bench-https-'))
const here = new URL('.', import.meta.url).pathname

async function child(script: string, args: string[]): Promise<{ proc: ChildProcess; info: Record<string, unknown> }> {
  const proc = spawn(process.execPath, [join(here, script), ...args], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = (await once(createInterface({ input: proc.stdout! }), 'line')) as [string]
  return { proc, info: JSON.parse(line) }
}

const ca = makeTestCa(dir, 'bench-upstream-ca')
const pair = makeServerCert(dir, ca, 'bench-upstream', ['localhost'])
writeFileSync(join(dir, 'up.crt'), pair.cert)
writeFileSync(join(dir, 'up.key'), pair.key)
const up = await child('upstream.ts', [join(dir, 'up.crt'), join(dir, 'up.key')])
const port = up.info.port as number
writeFileSync(join(dir, 'toolgate.yaml'), `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
logging: { level: error }
tls:
  ca: { publish_cert_to: ca.pem }
  upstream_ca_files: [${ca.certFile}]
tools:
  - name: bench
    match: { scheme: https, host: localhost, port: ${port} }
    allow_addresses: [127.0.0.1/32]
    routes: [{ methods: [GET], path: "/**" }]
`)
const gate = await child('gate.ts', [join(dir, 'toolgate.yaml')])
const gateCa = readFileSync(gate.info.ca as string, 'utf8')
const origin = `https://localhost:${port}`
const connections = 8

const direct = (): Dispatcher => new Agent({ connections, connect: { ca: ca.pem } })
const proxied = (): Dispatcher => new ProxyAgent({ uri: gate.info.proxy as string, requestTls: { ca: gateCa }, connections })

interface Row { mode: string; path: string; rps: number; errors: number; p50: number; p99: number }
const rows: Row[] = []
for (const [mode, headers, rate] of [['keep-alive', {}, 400], ['new connection', { connection: 'close' }, 100]] as const) {
  for (const [path, dispatcher] of [['direct', direct], ['toolgate', proxied]] as const) {
    const base = { origin, path: '/items', headers: headers as Record<string, string>, connections, dispatcher, durationMs: seconds * 1000, warmupMs: 1000 }
    const max = await maxThroughput(base)
    const lat = await runLoad({ ...base, rate })
    rows.push({ mode, path, rps: max.rps, errors: max.errors + lat.errors, p50: lat.latencyMs.p50, p99: lat.latencyMs.p99 })
    process.stderr.write(`${mode} ${path}: ${max.rps.toFixed(0)} req/s, p50 ${lat.latencyMs.p50.toFixed(2)} ms, p99 ${lat.latencyMs.p99.toFixed(2)} ms at ${rate}/s, errors ${max.errors + lat.errors}\n`)
  }
}
console.log('| mode | path | req/s (closed loop) | p50 ms | p99 ms | errors |')
console.log('| --- | --- | --- | --- | --- | --- |')
for (const r of rows) console.log(`| ${r.mode} | ${r.path} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} |`)
for (const mode of ['keep-alive', 'new connection']) {
  const d = rows.find((r) => r.mode === mode && r.path === 'direct')!
  const g = rows.find((r) => r.mode === mode && r.path === 'toolgate')!
  console.log(`${mode}: throughput ratio toolgate/direct ${(g.rps / d.rps).toFixed(2)}, added latency p50 +${(g.p50 - d.p50).toFixed(2)} ms (x${(g.p50 / d.p50).toFixed(2)}), p99 +${(g.p99 - d.p99).toFixed(2)} ms (x${(g.p99 / d.p99).toFixed(2)})`)
}
gate.proc.kill('SIGTERM')
up.proc.kill('SIGTERM')
