// `toolgate run --health HOST:PORT`: the listener the kubelet's httpGet probes reach. It answers
// /healthz and /readyz exactly as the admin listener does and nothing else (no metrics, no task
// API), since it listens on the pod IP.
import t from 'tap'
import { spawn, execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { request } from 'undici'
import { repoRoot } from '../helpers/tools.ts'

const bin = join(repoRoot, 'bin/toolgate.js')

t.test('the health listener serves /healthz and /readyz only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-health-'))
  const file = join(dir, 'toolgate.yaml')
  writeFileSync(file, `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
tools: []
`)
  const child = spawn(process.execPath, [bin, 'run', '--config', file, '--health', '127.0.0.1:0'], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => { child.kill('SIGKILL') })
  let stderr = ''
  const urls = await new Promise<{ admin: string; health: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not listening: ${stderr}`)), 15000)
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString()
      const admin = /"admin":"(http:[^"]+)"/.exec(stderr)
      const health = /"health":"(http:[^"]+)"/.exec(stderr)
      if (admin && health) { clearTimeout(timer); resolve({ admin: admin[1]!, health: health[1]! }) }
    })
  })
  t.not(urls.health, urls.admin, 'a listener of its own')
  const get = async (url: string, method: 'GET' | 'POST' | 'HEAD' = 'GET') => {
    const r = await request(url, { method })
    return { status: r.statusCode, body: await r.body.text() }
  }
  const ready = await get(`${urls.health}/readyz`)
  t.equal(ready.status, 200)
  t.same(JSON.parse(ready.body), JSON.parse((await get(`${urls.admin}/readyz`)).body), 'the same answer as the admin listener')
  t.equal((await get(`${urls.health}/healthz`)).status, 200)
  t.equal((await get(`${urls.health}/healthz`, 'HEAD')).status, 200)
  t.equal((await get(`${urls.health}/readyz?verbose=1`)).status, 200, 'a query string does not change the path')
  t.equal((await get(`${urls.admin}/metrics`)).status, 200, 'metrics are on the admin listener')
  for (const path of ['/metrics', '/v1/tasks', '/.well-known/jwks.json', '/']) {
    t.equal((await get(`${urls.health}${path}`)).status, 404, `${path} is not served on the health listener`)
  }
  t.equal((await get(`${urls.health}/readyz`, 'POST')).status, 405)
  child.kill('SIGTERM')
  const [code] = await once(child, 'exit')
  t.equal(code, 0, 'clean exit closes it too')
})

t.test('a bad HOST:PORT is a usage error (run --health, and inject --listen, which parses it alike)', async (t) => {
  for (const [cmd, flag] of [['run', '--health'], ['inject', '--listen']] as const) {
    for (const bad of ['15021', 'localhost', 'host:99999', ':15021', '[::1:15021']) {
      const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(process.execPath, [bin, cmd, flag, bad], { cwd: repoRoot }, (err, _out, stderr) => resolve({ code: err ? Number(err.code) : 0, stderr }))
      })
      t.equal(r.code, 2, `${cmd} ${flag} ${bad} exits 2`)
      t.match(r.stderr, new RegExp(`${flag}: expected HOST:PORT`))
    }
  }
})
