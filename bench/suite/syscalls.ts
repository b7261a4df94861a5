// Counts the system calls each proxy makes per request (strace -c -f attached for a fixed number
// of requests), toolgate next to the plain Node proxy floor, to tell socket/file work that is
// toolgate's own from what any Node proxy pays.
//   node bench/suite/syscalls.ts [--requests 5000] [--bin dist/bin/toolgate.js] [--rate 200 --connections 4]
// --rate N: open loop at N req/s for 5 s (agent rates: nothing coalesces) instead of saturation.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { parseArgs } from 'node:util'
import { maxThroughput, runLoad } from '../lib/loadgen.ts'
import { startChild } from '../lib/processes.ts'
import { startToolgateProcess } from '../lib/toolgate-process.ts'
import { plainConfig } from './scenarios.ts'

const { values } = parseArgs({ options: { requests: { type: 'string', default: '5000' }, bin: { type: 'string', default: 'bin/toolgate.js' }, rate: { type: 'string' }, connections: { type: 'string', default: '32' } } })
const dir = mkdtempSync(join(tmpdir(), 'toolgate-sys-'))
const upstream = await startChild(process.execPath, ['bench/lib/upstream-server.ts'], /listening (\d+)/)
const port = upstream.ready[1]

async function traced(name: string, pid: number, origin: string): Promise<void> {
  const strace = spawn('strace', ['-c', '-f', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] })
  let report = ''
  strace.stderr.on('data', (d: Buffer) => { report += d })
  await new Promise((r) => setTimeout(r, 500))
  const load = { origin, path: '/t/bench/v1/items/42', connections: Number(values.connections) }
  const r = values.rate
    ? await runLoad({ ...load, rate: Number(values.rate), durationMs: 5000 }).then((x) => ({ requests: x.sent }))
    : await maxThroughput({ ...load, durationMs: 3000 })
  strace.kill('SIGINT')
  await new Promise((r) => strace.on('exit', r))
  process.stdout.write(`\n== ${name}: ${r.requests} requests\n`)
  for (const line of report.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/.exec(line)
    if (m && Number(m[1]) / r.requests >= 0.05) process.stdout.write(`  ${m[2]!.padEnd(16)} ${(Number(m[1]) / r.requests).toFixed(2)} per request\n`)
  }
}

const floor = await startChild(process.execPath, ['bench/lib/pdp-proxy.ts', '--upstream', port!], /listening (\d+)/)
await traced('node-proxy', floor.proc.pid!, `http://127.0.0.1:${floor.ready[1]}`)
await floor.stop()
const tg = await startToolgateProcess(dir, plainConfig(Number(port), `${dir}/records.jsonl`), { configName: 'cfg/toolgate.yaml', bin: values.bin! })
await traced('toolgate', tg.pid, tg.proxyUrl)
await tg.stop()
await upstream.stop()
