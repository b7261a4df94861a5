// `toolgate decide` and rate limits (commands/decide-rate-limits.ts): local limits are simulated
// with fresh buckets across the lines of one run, exactly as the proxy would count consecutive
// calls; global limits are named and said not to be simulated. The real binary is run with a
// rate limit service address nothing listens on, and a listener on it proves decide never calls it.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../helpers/tools.ts'

function decide(args: string[], input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [join(repoRoot, 'bin/toolgate.js'), 'decide', ...args], { cwd: repoRoot }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
    child.stdin!.end(input)
  })
}

t.test('local limits are simulated line by line; global ones are named, not simulated, never contacted', async (t) => {
  let contacted = 0
  const service = createServer((s) => { contacted++; s.destroy() })
  service.listen(0, '127.0.0.1')
  await once(service, 'listening')
  t.teardown(() => service.close())
  const port = (service.address() as { port: number }).port
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-decide-rl-'))
  const file = join(dir, 'toolgate.yaml')
  writeFileSync(file, `version: 1
rate_limits:
  service: { address: "127.0.0.1:${port}", domain: toolgate, timeout_ms: 200 }
  limits:
    - { name: reads, tool: github, requests: 2, period_s: 3600 }
    - { name: shared, tool: github, requests: 100, period_s: 60, scope: global }
tools:
  - name: github
    match: { host: api.github.com }
    routes:
      - { methods: [GET], path: "/repos/**" }
  - name: docs
    match: { host: docs.example.com }
    routes:
      - { methods: [GET], path: "/**" }
`)
  const line = 'GET https://api.github.com/repos/acme/app/issues'
  const r = await decide(['--config', file], [line, line, line, 'GET https://docs.example.com/x'].join('\n'))
  t.equal(r.code, 3, r.stderr)
  const blocks = r.stdout.split(/\n(?=[A-Z_]+ (?:GET|POST|CONNECT) )/)
  t.equal(blocks.length, 4, r.stdout)
  t.match(blocks[0], /^ALLOW [\s\S]*rate limit: reads \(local, 2 per 3600s\): 2 of 2 left before this call; this call takes 1/)
  t.match(blocks[0], /rate limit: shared \(global\): not simulated/)
  t.match(blocks[1], /^ALLOW [\s\S]*reads \(local, 2 per 3600s\): 1 of 2 left before this call; this call takes 1/)
  t.match(blocks[2], /^DENY [\s\S]*decided by: rate_limit[\s\S]*rate limit reads exceeded \(2 per 3600s\)/, 'the third call is refused as the proxy would refuse it')
  t.notMatch(blocks[3], /rate limit/, 'no limit applies to another tool')
  t.equal(contacted, 0, 'the rate limit service was never contacted')

  const json = await decide(['--config', file, '--json'], line + '\n')
  const out = JSON.parse(json.stdout) as { decision: string; rate_limits: { local: Record<string, { remaining: number; burst: number }>; global_not_simulated: string[] } }
  t.equal(out.decision, 'allow')
  t.match(out.rate_limits, { local: { reads: { remaining: 2, burst: 2, scope: 'local' } }, global_not_simulated: ['shared'] })
})
