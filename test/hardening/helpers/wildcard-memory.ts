// Driver for the wildcard memory test (issue 14, attack 7). Run inside a fresh network namespace
// (test/hardening/wildcard-memory.test.ts starts it with `unshare -n`), where only loopback
// exists: name lookups fail at once instead of reaching a DNS server, which is what the attack
// needs (the names need not resolve; each distinct one used to cost a pool and a TLS context).
// Starts a real toolgate process with the injected sidecar's memory settings, sends one HTTPS
// request per distinct hostname under the wildcard through the forward proxy, and prints RSS
// figures as JSON on stdout.
import { Agent, request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { networkInterfaces } from 'node:os'
import { spawnToolgate } from '../../helpers/process.ts'

// Only inside the namespace the test creates: elsewhere the lookups of 10,000 names would go to
// the machine's DNS server. (A test runner given the whole folder also runs this file directly.)
const interfaces = Object.keys(networkInterfaces())
if (interfaces.some((name) => name !== 'lo')) {
  process.stderr.write(`wildcard-memory.ts runs only in a network namespace with loopback alone (found ${interfaces.join(', ')}); run test/hardening/wildcard-memory.test.ts\n`)
  process.exit(0)
}

const names = Number(process.argv[2] ?? 10_000)
const parallel = 32

const gate = await spawnToolgate(`version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
logging: { level: info, records: /dev/null }
# policy_eval_ms is wall-clock: on a starved CI machine the default 100 ms denies (fail closed)
# a few calls with 403, which is right but is not what this memory test measures.
timeouts: { connect_ms: 2000, policy_eval_ms: 2000 }
tools:
  - name: wild
    match: { scheme: https, host: "*.wild.example" }
`)
const agent = new Agent({ keepAlive: true, maxSockets: parallel })
const statuses: Record<string, number> = {}

function one(i: number): Promise<void> {
  const host = `h${i}.wild.example`
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: gate.proxyPort, method: 'GET', path: `https://${host}/x`, headers: { host }, agent }, (res) => {
      statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1
      res.resume()
      res.on('end', resolve)
      res.on('error', () => resolve())
    })
    req.on('error', () => { statuses['error'] = (statuses['error'] ?? 0) + 1; resolve() })
    req.end()
  })
}

async function run(from: number, to: number): Promise<void> {
  let next = from
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < to) await one(next++)
  }))
}

const mib = (kib: number): number => Math.round(kib / 102.4) / 10
const started = Date.now()
// Warm-up: code paths compiled, the TLS context and first pools created.
await run(0, 500)
await sleep(500)
const baseline = gate.rssKiB()
let peak = baseline
const sampler = setInterval(() => { peak = Math.max(peak, gate.rssKiB()) }, 100)
// RSS after each tenth of the names: a bound shows as a plateau, a leak as a line.
const series: number[] = []
for (let k = 0; k < 10; k++) {
  await run(500 + (k * names) / 10, 500 + ((k + 1) * names) / 10)
  series.push(mib(gate.rssKiB()))
}
clearInterval(sampler)
const after = gate.rssKiB()
await sleep(1000)
const settled = gate.rssKiB()
const metrics = await fetch(`http://127.0.0.1:${gate.adminPort}/metrics`).then((r) => r.text()).catch(() => '')
const metric = (name: string): number | null => { const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(metrics); return m ? Math.round(Number(m[1]) / 104857.6) / 10 : null }
const heap = { heap_used_mib: metric('toolgate_nodejs_heap_size_used_bytes'), heap_total_mib: metric('toolgate_nodejs_heap_size_total_bytes'), external_mib: metric('toolgate_nodejs_external_memory_bytes') }
const alive = gate.alive()
gate.kill()
agent.destroy()
process.stdout.write(JSON.stringify({ names, baseline_mib: mib(baseline), peak_mib: mib(peak), after_mib: mib(after), settled_mib: mib(settled), growth_mib: mib(Math.max(peak, after) - baseline), second_half_growth_mib: Math.round((series[9]! - series[4]!) * 10) / 10, series_mib: series, ...heap, statuses, alive, seconds: (Date.now() - started) / 1000 }) + '\n')
