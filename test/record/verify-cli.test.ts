// End to end: a real toolgate writes its records to a file with a configured checkpoint key,
// publishes that key in the admin JWKS, and `toolgate verify-records` (the real binary) accepts
// the stream against the saved JWKS, then reports a deleted record, an edited one and a reordering
// with exit status 1.
import t from 'tap'
import { execFile } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from '../helpers/tools.ts'
import { startUpstream } from '../helpers/upstream.ts'
import { viaProxy } from '../helpers/proxy-client.ts'
import { testConfig } from '../helpers/toolgate.ts'
import { startToolgate } from '../../proxy/src/server.ts'
import { createLogger } from '../../proxy/src/record/log.ts'

const bin = join(repoRoot, 'bin/toolgate.js')

function toolgate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: repoRoot }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

t.test('records of a real sidecar verify against its published JWKS; tampering is reported', async (t) => {
  const up = await startUpstream()
  t.teardown(() => up.close())
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-verify-'))
  writeFileSync(join(dir, 'records.key'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
  const config = testConfig(`version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
logging:
  level: error
  records: records.jsonl
  checkpoints: { every_records: 2, interval_s: 0, key_file: records.key }
tools:
  - name: echo
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    routes:
      - { methods: [GET], path: "/allowed/**" }
`, dir)
  const tg = await startToolgate({ config, logger: createLogger({ level: 'error', write: () => {} }) })
  for (const path of ['/allowed/1', '/denied', '/allowed/2', '/allowed/3?token=SECRET123']) {
    await viaProxy(tg.proxyUrl, 'GET', `http://127.0.0.1:${up.port}${path}`)
  }
  const jwksRes = await fetch(`${tg.adminUrl}/.well-known/jwks.json`)
  t.equal(jwksRes.status, 200)
  const jwks = await jwksRes.text()
  await tg.close(500)
  const jwksFile = join(dir, 'jwks.json')
  writeFileSync(jwksFile, jwks)
  const kid = (JSON.parse(jwks) as { keys: Array<{ kid: string; use: string }> }).keys.find((k) => k.use === 'sig')?.kid
  const recordsFile = join(dir, 'records.jsonl')
  const text = readFileSync(recordsFile, 'utf8')
  t.notMatch(text, /SECRET123/, 'query values stay redacted in chained records')
  t.match(text, new RegExp(`"type":"chain_start".*"kid":"${kid}"`), 'the segment names the published key')

  const ok = await toolgate(['verify-records', recordsFile, '--jwks', jwksFile, '--strict'])
  t.equal(ok.code, 0, ok.stdout + ok.stderr)
  t.match(ok.stdout, /^ok: 8 line\(s\), 1 segment\(s\), 3 checkpoint\(s\) verified/m)

  const ls = text.split('\n').slice(0, -1)
  const tampered = join(dir, 'tampered.jsonl')
  const check = async (mutated: string[], want: RegExp) => {
    writeFileSync(tampered, mutated.map((l) => l + '\n').join(''))
    const r = await toolgate(['verify-records', tampered, '--jwks', jwksFile])
    t.equal(r.code, 1)
    t.match(r.stdout, want)
    t.match(r.stdout, /FAILED/)
  }
  await check([...ls.slice(0, 2), ...ls.slice(3)], /^gap: line 3: seq 3 where seq 2 was due/m)
  await check(ls.map((l, i) => (i === 1 ? l.replace('"decision":"allow"', '"decision":"deny"') : l)), /^edit: line 2: changed/m)
  await check([ls[0]!, ls[2]!, ls[1]!, ...ls.slice(3)], /^reorder: line 2:/m)

  const other = await toolgate(['verify-records', recordsFile, '--key', join(dir, 'jwks.json')])
  t.equal(other.code, 2, 'a --key that is not a PEM public key is a usage error')
  const json = await toolgate(['verify-records', recordsFile, '--json'])
  t.equal(json.code, 0)
  t.equal((JSON.parse(json.stdout) as { ok: boolean }).ok, true)
  const missing = await toolgate(['verify-records'])
  t.equal(missing.code, 2)
  const help = await toolgate(['verify-records', '--help'])
  t.match(help.stdout, /usage: toolgate verify-records/)
})
