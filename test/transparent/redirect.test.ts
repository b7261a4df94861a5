// Transparent interception for real. A network namespace plays the pod: toolgate runs in it as
// UID 1337, `toolgate iptables install` redirects the namespace's outbound TCP to toolgate's
// transparent listeners, and a client in it (root, ignoring any proxy settings) calls upstreams
// that live in the root namespace behind a veth pair on a private /30. The client is caught,
// decided and forwarded; toolgate's own upstream traffic (UID 1337) is not looped back.
import t from 'tap'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { promisify } from 'node:util'
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer, type IncomingMessage } from 'node:http'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { makeServerCert, makeTestCa, startHttpsUpstream, type HttpsUpstream } from '../tls/helpers/https-upstream.ts'
import { createNetns, skipReason, type Netns } from './helpers/netns.ts'
import { repoRoot } from '../helpers/tools.ts'
import { testListenersWithTransparent } from '../helpers/toolgate.ts'

const run = promisify(execFile)
const SECRET = 'transparent-secret-31415'
const PROXY_UID = 1337
const skip = skipReason()

t.test('transparent interception in a network namespace', { skip }, async (t) => {
  const ns: Netns = createNetns({ veth: true })
  t.teardown(() => ns.destroy())
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-transparent-'))
  chmodSync(dir, 0o755)

  // Upstreams in the root namespace on the veth address (exists only on this pair).
  const httpReceived: Array<{ url: string; headers: IncomingMessage['headers'] }> = []
  const httpUp = createServer((req, res) => {
    httpReceived.push({ url: req.url ?? '', headers: req.headers })
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ url: req.url, headers: req.headers }))
  })
  httpUp.listen(80, ns.hostAddr)
  await once(httpUp, 'listening')
  t.teardown(() => { httpUp.closeAllConnections(); httpUp.close() })
  const upstreamCa = makeTestCa(dir, 'upstream-ca')
  const httpsUp: HttpsUpstream = await startHttpsUpstreamOn443(makeServerCert(dir, upstreamCa, 'tools', ['api.tool.test', 'pass.tool.test']), ns.hostAddr)
  t.teardown(() => httpsUp.close())
  ns.hosts({ 'api.tool.test': ns.hostAddr, 'pass.tool.test': ns.hostAddr, 'other.tool.test': ns.hostAddr })

  writeFileSync(join(dir, 'secret'), SECRET)
  chmodSync(join(dir, 'secret'), 0o644) // readable by the toolgate UID in this test
  const config = `version: 1
${testListenersWithTransparent}tls:
  ca: { publish_cert_to: ca.pem }
  upstream_ca_files: [${upstreamCa.certFile}]
credentials:
  key: { type: static, secret_file: ${join(dir, 'secret')} }
tools:
  - name: api-http
    match: { scheme: http, host: api.tool.test, port: 80 }
    allow_addresses: [${ns.hostAddr}/32]
    credential: { provider: key, header: X-Api-Key, template: "{token}" }
    routes: [{ methods: [GET], path: "/**" }]
    deny: [{ path: "/admin/**", reason: "no admin" }]
  - name: api-https
    match: { scheme: https, host: api.tool.test, port: 443 }
    allow_addresses: [${ns.hostAddr}/32]
    credential: { provider: key, header: X-Api-Key, template: "{token}" }
    routes: [{ methods: [GET], path: "/**" }]
  - name: pass
    match: { scheme: https, host: pass.tool.test, port: 443 }
    allow_addresses: [${ns.hostAddr}/32]
    passthrough: true
`
  writeFileSync(join(dir, 'toolgate.yaml'), config)
  const outDir = join(dir, 'out') // written by the toolgate UID
  mkdirSync(outDir)
  chownSync(outDir, PROXY_UID, PROXY_UID)
  const recordsFile = join(outDir, 'records.json')
  writeFileSync(recordsFile, '[]')
  chmodSync(upstreamCa.certFile, 0o644)

  const gate: ChildProcess = spawn('ip', ['netns', 'exec', ns.name, 'env', '-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`, `HOME=${dir}`, 'setpriv', `--reuid=${PROXY_UID}`, `--regid=${PROXY_UID}`, '--clear-groups',
    process.execPath, join(repoRoot, 'test/transparent/helpers/gate-in-ns.ts'), join(dir, 'toolgate.yaml'), recordsFile], // A clean environment: no tap loaders (NODE_OPTIONS) in an unprivileged child.
    { stdio: ['ignore', 'pipe', 'inherit'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir } })
  t.teardown(() => { gate.kill('SIGTERM') })
  const [line] = (await once(createInterface({ input: gate.stdout! }), 'line')) as [string]
  const info = JSON.parse(line) as { http: number; tls: number; ca: string; uid: number }
  t.equal(info.uid, PROXY_UID, 'toolgate runs as its own UID')
  const records = (): Array<Record<string, unknown>> => JSON.parse(readFileSync(recordsFile, 'utf8'))
  const waitRecords = async (n: number): Promise<Array<Record<string, unknown>>> => {
    for (let i = 0; i < 100 && records().length < n; i++) await new Promise((r) => setTimeout(r, 50))
    return records()
  }

  // Before the rules, the client reaches the upstream directly (nothing intercepts).
  const direct = JSON.parse(await ns.run(['curl', '-sS', '--max-time', '5', 'http://api.tool.test/before']))
  t.notOk(direct.headers['x-api-key'], 'no rules yet: not intercepted')

  await run('ip', ['netns', 'exec', ns.name, process.execPath, join(repoRoot, 'bin/toolgate.js'), 'iptables', 'install', '--proxy-uid', String(PROXY_UID), '--http-port', String(info.http), '--tls-port', String(info.tls)])
  const curl = async (args: string[]): Promise<{ out: string; code: string }> => {
    const out = await ns.run(['env', '-u', 'HTTP_PROXY', '-u', 'HTTPS_PROXY', '-u', 'http_proxy', '-u', 'https_proxy', 'curl', '-sS', '--noproxy', '*', '--max-time', '10', '-o', '-', '-w', '\n%{http_code}', ...args])
    const i = out.lastIndexOf('\n')
    return { out: out.slice(0, i), code: out.slice(i + 1) }
  }

  await t.test('plain HTTP is caught, decided by Host and forwarded with the credential', async (t) => {
    const before = httpReceived.length
    const r = await curl(['http://api.tool.test/v1/x'])
    t.equal(r.code, '200')
    t.equal(httpReceived.length, before + 1)
    t.equal(httpReceived.at(-1)!.headers['x-api-key'], SECRET, 'credential injected: the call went through toolgate')
    await waitRecords(1)
    for (let i = 0; i < 40 && !records().some((x) => x.type === 'decision' && x.tool === 'api-http'); i++) await new Promise((r) => setTimeout(r, 50))
    const rec = records().filter((x) => x.type === 'decision' && x.tool === 'api-http').at(-1)
    t.match(rec, { via: 'transparent', tool: 'api-http', decision: 'allow' })
    const denied = await curl(['http://api.tool.test/admin/x'])
    t.equal(denied.code, '403')
    t.equal(httpReceived.length, before + 1, 'denied call not forwarded')
    const unknown = await curl(['http://other.tool.test/'])
    t.equal(unknown.code, '403', 'a host with no tool is denied')
    t.notMatch(denied.out + unknown.out, SECRET)
  })

  await t.test('TLS is caught by SNI, terminated with the pod CA and forwarded with the credential', async (t) => {
    const before = httpsUp.received.length
    const ca = info.ca // published by toolgate (certificate only) for the agent to trust
    t.notMatch(readFileSync(ca, 'utf8'), /PRIVATE KEY/)
    const r = await curl(['--cacert', ca, 'https://api.tool.test/secure'])
    t.equal(r.code, '200')
    t.equal(httpsUp.received.length, before + 1)
    t.equal(httpsUp.received.at(-1)!.headers['x-api-key'], SECRET)
    await new Promise((r) => setTimeout(r, 150))
    const rec = records().filter((x) => x.type === 'decision' && x.tool === 'api-https').at(-1)
    t.match(rec, { via: 'transparent', decision: 'allow' })

    // Host inside the TLS connection must agree with the SNI.
    const mismatch = await curl(['--cacert', ca, '-H', 'Host: pass.tool.test', 'https://api.tool.test/x'])
    t.equal(mismatch.code, '400', 'SNI/Host disagreement refused')

    // Passthrough: the upstream's own certificate reaches the client (trusting only the upstream CA works).
    const p = await curl(['--cacert', upstreamCa.certFile, 'https://pass.tool.test/p'])
    t.equal(p.code, '200')
    t.notOk(JSON.parse(p.out).headers['x-api-key'], 'passthrough gets no credential')

    // TLS to a host with no tool: closed before any byte reaches an upstream.
    const before2 = httpsUp.received.length
    const denied = await ns.run(['sh', '-c', `curl -sS --noproxy '*' --max-time 5 --cacert ${ca} --resolve other.tool.test:443:${ns.hostAddr} https://other.tool.test/ 2>&1; echo " exit=$?"`])
    t.match(denied, /exit=(35|56|52)/, 'connection refused at the TLS level')
    t.equal(httpsUp.received.length, before2)
  })

  await t.test("toolgate's own traffic (its UID) is not redirected", async (t) => {
    await new Promise((r) => setTimeout(r, 300)) // let the mirrored records of earlier calls settle
    const before = httpReceived.length
    const count = records().length
    const out = await ns.run(['setpriv', `--reuid=${PROXY_UID}`, `--regid=${PROXY_UID}`, '--clear-groups', 'curl', '-sS', '--max-time', '5', 'http://api.tool.test/as-proxy-uid'])
    t.notOk(JSON.parse(out).headers['x-api-key'], 'went straight to the upstream')
    t.equal(httpReceived.length, before + 1)
    await new Promise((r) => setTimeout(r, 200))
    t.equal(records().length, count, 'toolgate saw nothing of it')
  })

  await run('ip', ['netns', 'exec', ns.name, process.execPath, join(repoRoot, 'bin/toolgate.js'), 'iptables', 'cleanup'])
  const after = JSON.parse(await ns.run(['curl', '-sS', '--max-time', '5', 'http://api.tool.test/after']))
  t.notOk(after.headers['x-api-key'], 'after cleanup nothing is intercepted')
})

async function startHttpsUpstreamOn443(pair: { cert: string; key: string }, host: string): Promise<HttpsUpstream> {
  const up = await startHttpsUpstream(pair, host)
  // startHttpsUpstream binds port 0; rebind the same server on 443 of the private address.
  await new Promise<void>((resolve) => up.server.close(() => resolve()))
  up.server.listen(443, host)
  await once(up.server, 'listening')
  return { ...up, port: 443 }
}
