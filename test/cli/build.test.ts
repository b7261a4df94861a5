// `npm run build` produces a dist/ that runs on its own: the bundled CLI finds its schema,
// embedded config and policy bundle, validates configs and starts.
import t from 'tap'
import { spawnSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { repoRoot } from '../helpers/tools.ts'

t.test('the bundled dist/ checks the embedded default config and starts', async (t) => {
  const build = spawnSync(process.execPath, ['scripts/build.js'], { cwd: repoRoot, encoding: 'utf8' })
  t.equal(build.status, 0, build.stderr)
  const bin = join(repoRoot, 'dist/bin/toolgate.js')
  const version = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' })
  t.match(version.stdout, /^toolgate \d+\.\d+\.\d+/)
  const check = spawnSync(process.execPath, [bin, 'check', '--config', join(repoRoot, 'config/toolgate.default.yaml')], { encoding: 'utf8' })
  t.equal(check.status, 0, check.stderr)
  t.match(check.stdout, /ok \(\d+ tools/)

  // The embedded default's own ports are fixed (15001/15000); the run uses free ports instead.
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-build-'))
  const cfg = join(dir, 'toolgate.yaml')
  const base = 'version: 1\nlisteners:\n  proxy: { host: 127.0.0.1, port: 0 }\n  admin: { host: 127.0.0.1, port: 0 }\ntools:\n  - name: x\n    match: { host: x.example.com }\n'
  const runs = async (yaml: string): Promise<void> => {
    writeFileSync(cfg, yaml)
    const child = spawn(process.execPath, [bin, 'run', '--config', cfg], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const exited = once(child, 'exit')
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening: ${stderr}`)), 15000)
      child.stderr.on('data', () => { if (stderr.includes('"msg":"toolgate listening"')) { clearTimeout(timer); resolve() } })
      void exited.then(([code]) => { clearTimeout(timer); reject(new Error(`exited ${code} before listening: ${stderr.slice(-1000)}`)) })
    })
    child.kill('SIGTERM')
    const [code] = await exited
    t.equal(code, 0)
  }
  await runs(base)
  // Telemetry loads the OpenTelemetry packages (CommonJS) with import() at start: in the split
  // bundle such an import gave only `default`, and the start failed with "resourceFromAttributes
  // is not a function" (proxy/src/cjs-exports.ts). Nothing listens on the endpoints: the
  // exporters only send when there is something to send.
  await runs(`${base}telemetry:\n  traces: { endpoint: "http://127.0.0.1:9/v1/traces" }\n  logs: { endpoint: "http://127.0.0.1:9/v1/logs" }\n`)
})
