// The toolgate binary as a user runs it: --help everywhere, check, decide, run with hot reload
// and a bounded drain on SIGTERM.
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync, renameSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { once } from 'node:events'
import { request } from 'undici'
import { repoRoot } from '../helpers/tools.ts'
import { startUpstream } from '../helpers/upstream.ts'
import { viaProxy } from '../helpers/proxy-client.ts'

const exec = promisify(execFile)
const bin = join(repoRoot, 'bin/toolgate.js')
const node = process.execPath

async function toolgate(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(node, [bin, ...args], { cwd: repoRoot }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
    if (input !== undefined) child.stdin!.end(input)
  })
}

t.test('--help on every command', async (t) => {
  for (const cmd of [[], ['run'], ['check'], ['decide'], ['suggest'], ['inject'], ['iptables']]) {
    const r = await toolgate([...cmd, '--help'])
    t.equal(r.code, 0, `${cmd.join(' ') || 'toolgate'} --help exits 0`)
    t.match(r.stdout, /usage: toolgate/)
  }
  const unknown = await toolgate(['frobnicate'])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown command 'frobnicate'/)
  const badFlag = await toolgate(['check', '--nope'])
  t.equal(badFlag.code, 2)
  t.match(badFlag.stderr, /--nope/)
})

t.test('check: a bad config gives every error with file:line:col and exits 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-cli-'))
  const file = join(dir, 'bad.yaml')
  writeFileSync(file, `version: 1
mode: enforcing
tools:
  - name: github
    match: { host: api.github.com }
    routes:
      - { methods: [get], path: "/repos/**" }
`)
  const r = await toolgate(['check', '--config', file])
  t.equal(r.code, 1)
  t.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2:7: mode: `))
  t.match(r.stderr, /:7:\d+: tools\[0\]\.routes\[0\]\.methods\[0\]/)
  const good = join(dir, 'good.yaml')
  writeFileSync(good, 'version: 1\ntools:\n  - name: github\n    match: { host: api.github.com }\n    routes:\n      - { path: "/repos/**" }\n')
  const ok = await toolgate(['check', '--config', good])
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /ok \(1 tools/)
})

t.test('decide: explains each line, sends nothing', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-cli-'))
  const file = join(dir, 'cfg.yaml')
  writeFileSync(file, `version: 1
tools:
  - name: github
    match: { host: api.github.com }
    routes:
      - { methods: [GET], path: "/repos/{owner}/{repo}/issues" }
    deny:
      - { path: "/repos/*/*/hooks/**", reason: "webhooks are managed by the platform team" }
`)
  const input = [
    'GET https://api.github.com/repos/acme/app/issues',
    'DELETE https://api.github.com/repos/acme/app/issues',
    'GET https://api.github.com/repos/acme/app/hooks/1',
    'GET https://evil.example/',
    'nonsense',
  ].join('\n')
  const r = await toolgate(['decide', '--config', file], input)
  t.equal(r.code, 3, 'exit 3 when any line is denied')
  t.match(r.stdout, /ALLOW GET https:\/\/api\.github\.com\/repos\/acme\/app\/issues\n {4}tool: github {2}route: \/repos\/\{owner\}\/\{repo\}\/issues/)
  t.match(r.stdout, /DENY DELETE https:\/\/api\.github\.com\/repos\/acme\/app\/issues[\s\S]*?reason: no route of tool github allows DELETE/)
  t.match(r.stdout, /webhooks are managed by the platform team/)
  t.match(r.stdout, /DENY GET https:\/\/evil\.example\/[\s\S]*?no tool in the allowlist/)
  t.match(r.stdout, /error: expected "METHOD URL"/)
  const json = await toolgate(['decide', '--config', file, '--json'], 'GET https://api.github.com/repos/a/b/issues\n')
  t.equal(json.code, 0)
  t.match(JSON.parse(json.stdout), { decision: 'allow', tool: 'github', access: 'read' })
})

t.test('run: hot reload applies a good config, keeps the last good on a bad one, drains on SIGTERM', async (t) => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-run-'))
  const file = join(dir, 'toolgate.yaml')
  const cfg = (path: string) => `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
tools:
  - name: up
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    routes:
      - { path: "${path}" }
`
  writeFileSync(file, cfg('/a'))
  const child = spawn(node, [bin, 'run', '--config', file], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  child.stdout.resume()
  const ports = await new Promise<{ proxy: string; admin: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not listening: ${stderr}`)), 15000)
    child.stderr.on('data', () => {
      const m = /"proxy":"(http:[^"]+)","admin":"(http:[^"]+)"/.exec(stderr)
      if (m) { clearTimeout(timer); resolve({ proxy: m[1]!, admin: m[2]! }) }
    })
  })
  const get = async (path: string) => (await viaProxy(ports.proxy, 'GET', `http://127.0.0.1:${up.port}${path}`)).status
  t.equal(await get('/a'), 200)
  t.equal(await get('/b'), 403)

  // Kubernetes updates ConfigMaps by renaming a new file into place: do the same.
  writeFileSync(file + '.new', cfg('/b'))
  renameSync(file + '.new', file)
  await waitFor(async () => (await get('/b')) === 200, 5000)
  t.equal(await get('/a'), 403, 'new config in force')

  writeFileSync(file + '.new', 'version: 1\ntools: [ { name: Bad Name } ]\n')
  renameSync(file + '.new', file)
  await waitFor(async () => /config reload rejected/.test(stderr), 5000)
  t.equal(await get('/b'), 200, 'last good config kept')
  const metrics = await (await request(`${ports.admin}/metrics`)).body.text()
  t.match(metrics, /toolgate_config_reloads_total\{result="failure"\} 1/)
  t.match(metrics, /toolgate_config_reloads_total\{result="success"\} 1/)

  // An in-flight call finishes during the drain; the process then exits 0.
  writeFileSync(file + '.new', cfg('/slow'))
  renameSync(file + '.new', file)
  await waitFor(async () => (await get('/slow?ms=1')) === 200, 5000)
  const slow = viaProxy(ports.proxy, 'GET', `http://127.0.0.1:${up.port}/slow?ms=700`)
  await new Promise((r) => setTimeout(r, 150))
  child.kill('SIGTERM')
  const res = await slow
  t.equal(res.status, 200, 'in-flight call completed during the drain')
  t.equal(res.body, 'slow')
  const [code] = await once(child, 'exit')
  t.equal(code, 0, 'clean exit')
})

async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('condition not met in time')
}
