// HTTPS through toolgate with real clients (curl, Python requests, Node fetch in a child process)
// via HTTPS_PROXY / -x, to real HTTPS upstreams with their own test CA. Inspected tools are
// terminated with a minted leaf and decided per request; passthrough tools are tunnelled as is.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { once } from 'node:events'
import { makeServerCert, makeTestCa, startHttpsUpstream, type HttpsUpstream } from './helpers/https-upstream.ts'
import { startInterceptingGate, type InterceptingGate } from './helpers/gate.ts'

const run = promisify(execFile)
const SECRET = 'tg-secret-9f8e7d6c5b4a'

let api: HttpsUpstream
let pass: HttpsUpstream
let bad: HttpsUpstream
let gate: InterceptingGate
let toolgateCa: string
let upstreamCaFile: string

t.before(async () => {
  const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'toolgate-up-'))
  const upstreamCa = makeTestCa(dir, 'upstream-test-ca')
  upstreamCaFile = upstreamCa.certFile
  const rogueCa = makeTestCa(dir, 'rogue-ca')
  api = await startHttpsUpstream(makeServerCert(dir, upstreamCa, 'api', ['localhost', '127.0.0.1']))
  pass = await startHttpsUpstream(makeServerCert(dir, upstreamCa, 'pass', ['localhost']))
  bad = await startHttpsUpstream(makeServerCert(dir, rogueCa, 'bad', ['localhost']))
  gate = await startInterceptingGate((gdir) => {
    writeFileSync(join(gdir, 'api.secret'), SECRET + '\n', { mode: 0o600 })
    return `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
logging: { level: error }
tls:
  ca: { publish_cert_to: shared/toolgate-ca.pem, validity_hours: 24 }
  upstream_ca_files: [${upstreamCa.certFile}]
credentials:
  apikey: { type: static, secret_file: api.secret }
tools:
  - name: api
    match: { scheme: https, host: localhost, port: ${api.port} }
    allow_addresses: [127.0.0.1/32]
    credential: { provider: apikey, header: X-Api-Key, template: "{token}" }
    routes:
      - { methods: [GET], path: "/**" }
    deny:
      - { path: "/admin/**", reason: "admin endpoints are off limits" }
  - name: pass
    match: { scheme: https, host: localhost, port: ${pass.port} }
    allow_addresses: [127.0.0.1/32]
    passthrough: true
  - name: bad
    match: { scheme: https, host: localhost, port: ${bad.port} }
    allow_addresses: [127.0.0.1/32]
    routes:
      - { methods: [GET], path: "/**" }
`
  })
  toolgateCa = join(gate.dir, 'shared', 'toolgate-ca.pem')
})
t.teardown(async () => {
  await gate?.close()
  await Promise.all([api?.close(), pass?.close(), bad?.close()])
})

/** Nothing the agent sees, and nothing toolgate logs or records, may contain the secret. */
function assertNoSecret(t: Test, ...texts: string[]): void {
  for (const s of [...texts, gate.logs.join('\n'), JSON.stringify(gate.records)]) t.notMatch(s, SECRET, 'secret not leaked')
}

t.test('the CA certificate (never the key) is published for the agent', async (t) => {
  const pem = readFileSync(toolgateCa, 'utf8')
  t.match(pem, /BEGIN CERTIFICATE/)
  t.notMatch(pem, /PRIVATE KEY/)
})

t.test('curl -x --cacert: allowed call succeeds with the credential injected; denied gets 403', async (t) => {
  const before = api.received.length
  const { stdout } = await run('curl', ['-sS', '--cacert', toolgateCa, '-x', gate.proxyUrl, '-H', 'X-Api-Key: agent-forged', `https://localhost:${api.port}/v1/items?x=1`])
  const echoed = JSON.parse(stdout)
  t.equal(api.received.length, before + 1)
  t.equal(echoed.url, '/v1/items?x=1')
  t.equal(api.received.at(-1)!.headers['x-api-key'], SECRET, 'toolgate replaced the agent\'s header with the credential')
  t.equal(echoed.headers['x-api-key'], '*'.repeat(SECRET.length), 'and the upstream echoing it back does not hand it to the agent (reflection guard)')
  t.equal(echoed.headers.host, `localhost:${api.port}`)
  const rec = gate.records.at(-1) as Record<string, unknown>
  t.equal(rec.via, 'intercepted')
  t.equal(rec.decision, 'allow')

  const denied = await run('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', '--cacert', toolgateCa, '-x', gate.proxyUrl, `https://localhost:${api.port}/admin/users`])
  const [body, code] = denied.stdout.split('\n')
  t.equal(code, '403')
  t.match(JSON.parse(body!), { error: { code: 'denied', type: 'permission_error', message: /^toolgate: .*off limits/, decision_id: /^[0-9a-f-]{36}$/ } })
  t.equal(api.received.length, before + 1, 'denied call never reached the upstream')
  // In the tunnel too: the reason phrase, the decision id header and Proxy-Status.
  const head = await run('curl', ['-sS', '-o', '/dev/null', '-D', '-', '--cacert', toolgateCa, '-x', gate.proxyUrl, `https://localhost:${api.port}/admin/users`])
  const inner = head.stdout.split('\r\n\r\n').at(-2) ?? ''
  t.match(inner, /^HTTP\/1\.1 403 toolgate: .*off limits/m)
  t.match(inner, /^x-toolgate-decision-id: [0-9a-f-]{36}\r?$/m)
  t.match(inner, /^proxy-status: toolgate; error=http_request_denied; details=".*off limits/m)
  assertNoSecret(t, stdout)
  assertNoSecret(t, denied.stdout)
})

t.test('keep-alive: each request in one tunnel is decided separately', async (t) => {
  const before = api.received.length
  const { stdout } = await run('curl', ['-sS', '-o', '/dev/null', '-o', '/dev/null', '-o', '/dev/null', '-w', '%{http_code} %{num_connects}\n', '--cacert', toolgateCa, '-x', gate.proxyUrl,
    `https://localhost:${api.port}/a`, `https://localhost:${api.port}/admin/x`, `https://localhost:${api.port}/b`])
  const lines = stdout.trim().split('\n')
  t.same(lines.map((l) => l.split(' ')[0]), ['200', '403', '200'])
  t.same(lines.map((l) => l.split(' ')[1]), ['1', '0', '0'], 'one connection (one tunnel) for all three')
  t.equal(api.received.length, before + 2)
})

t.test('Python requests with REQUESTS_CA_BUNDLE and HTTPS_PROXY', async (t) => {
  const script = `import requests, json
r = requests.get("https://localhost:${api.port}/py")
d = requests.get("https://localhost:${api.port}/admin/py")
try:
    d.raise_for_status()
    raised = ""
except requests.HTTPError as e:
    raised = str(e)
print(json.dumps({"status": r.status_code, "key": r.json()["headers"].get("x-api-key"), "denied": d.status_code, "reason": d.json()["error"]["message"], "raised": raised}))`
  const { stdout } = await run('python3', ['-c', script], { env: { ...process.env, HTTPS_PROXY: gate.proxyUrl, REQUESTS_CA_BUNDLE: toolgateCa, NO_PROXY: '' } })
  t.match(JSON.parse(stdout), { status: 200, key: '*'.repeat(SECRET.length), denied: 403, reason: /^toolgate: admin endpoints are off limits \(decision [0-9a-f-]{36}\)$/ }, 'the echoed credential comes back redacted')
  // requests prints the status line's reason phrase: the reason reaches the user with no body parsing.
  t.match(JSON.parse(stdout).raised, /^403 Client Error: toolgate: admin endpoints are off limits for url: /)
  t.equal(api.received.find((r) => r.url === '/py')?.headers['x-api-key'], SECRET, 'the upstream got the credential')
})

t.test('Node (child process) with NODE_EXTRA_CA_CERTS and HTTPS_PROXY', async (t) => {
  const code = `const r = await fetch("https://localhost:${api.port}/node"); const d = await fetch("https://localhost:${api.port}/admin/node");
console.log(JSON.stringify({ status: r.status, key: (await r.json()).headers["x-api-key"], denied: d.status }))`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', code], { env: { ...process.env, NODE_USE_ENV_PROXY: '1', HTTPS_PROXY: gate.proxyUrl, NODE_EXTRA_CA_CERTS: toolgateCa, NO_PROXY: '' } })
  t.same(JSON.parse(stdout), { status: 200, key: '*'.repeat(SECRET.length), denied: 403 }, 'the echoed credential comes back redacted')
  t.equal(api.received.find((r) => r.url === '/node')?.headers['x-api-key'], SECRET, 'the upstream got the credential')
})

t.test('passthrough tool: tunnelled without interception, no credential', async (t) => {
  // Trusting only the upstream's own CA works: the certificate is the upstream's, not a minted one.
  const { stdout } = await run('curl', ['-sS', '--cacert', upstreamCaFile, '-x', gate.proxyUrl, `https://localhost:${pass.port}/through`])
  t.equal(JSON.parse(stdout).url, '/through')
  t.notOk(JSON.parse(stdout).headers['x-api-key'])
  const rec = gate.records.at(-1) as Record<string, unknown>
  t.equal(rec.tool, 'pass')
  t.equal(rec.via, 'connect')
})

t.test('a client pinning the real upstream certificate fails clearly', async (t) => {
  const before = api.received.length
  // CONNECT by hand, then TLS with a pin on the upstream's real certificate.
  const sock = netConnect(Number(new URL(gate.proxyUrl).port), '127.0.0.1')
  await once(sock, 'connect')
  sock.write(`CONNECT localhost:${api.port} HTTP/1.1\r\nHost: localhost:${api.port}\r\n\r\n`)
  const [first] = (await once(sock, 'data')) as [Buffer]
  t.match(first.toString(), /^HTTP\/1.1 200/)
  const tlsSock = tlsConnect({
    socket: sock,
    servername: 'localhost',
    ca: readFileSync(toolgateCa, 'utf8'),
    checkServerIdentity: (_host, cert) => cert.fingerprint256 === api.fingerprint256 ? undefined : new Error(`certificate pin mismatch: got ${cert.fingerprint256}`),
  })
  const [err] = (await once(tlsSock, 'error')) as [Error]
  t.match(err.message, /pin mismatch/, 'the pinning client sees a clear pin failure, not a silent success')
  t.equal(api.received.length, before, 'nothing reached the upstream')

  // A client that does not trust toolgate's CA gets a certificate error (curl exit 60).
  const noTrust = await run('curl', ['-sS', '--cacert', upstreamCaFile, '-x', gate.proxyUrl, `https://localhost:${api.port}/x`]).catch((e: { code: number; stderr: string }) => e)
  t.equal((noTrust as { code: number }).code, 60)
  t.match((noTrust as { stderr: string }).stderr, /certificate/i)
})

t.test('upstream with an untrusted certificate: 502 with the reason', async (t) => {
  const { stdout } = await run('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', '--cacert', toolgateCa, '-x', gate.proxyUrl, `https://localhost:${bad.port}/x`])
  const [body, code] = stdout.split('\n')
  t.equal(code, '502')
  t.match(JSON.parse(body!).error, { code: 'tls', message: /certificate|verify|issuer/i })
  t.equal(bad.received.length, 0)
})

t.test('SNI must match the CONNECT host', async (t) => {
  const sock = netConnect(Number(new URL(gate.proxyUrl).port), '127.0.0.1')
  await once(sock, 'connect')
  sock.write(`CONNECT localhost:${api.port} HTTP/1.1\r\nHost: localhost:${api.port}\r\n\r\n`)
  await once(sock, 'data')
  const tlsSock = tlsConnect({ socket: sock, servername: 'evil.example', rejectUnauthorized: false })
  const [err] = (await once(tlsSock, 'error')) as [Error]
  t.match(err.message, /alert|handshake|socket/i)
  t.ok(gate.logs.some((l) => l.includes('sni_mismatch')), 'logged as an SNI mismatch')
})

t.test('Host inside the tunnel must agree with the CONNECT target', async (t) => {
  const before = api.received.length
  const { stdout } = await run('curl', ['-sS', '-o', '-', '-w', '\n%{http_code}', '--cacert', toolgateCa, '-x', gate.proxyUrl, '-H', 'Host: other.example', `https://localhost:${api.port}/x`])
  t.equal(stdout.split('\n')[1], '400')
  t.equal(api.received.length, before)
})

t.test('TLS below 1.2 is refused', async (t) => {
  const res = await run('curl', ['-sS', '--tls-max', '1.1', '--cacert', toolgateCa, '-x', gate.proxyUrl, `https://localhost:${api.port}/x`]).catch((e: { code: number }) => e)
  t.not((res as { code?: number }).code ?? 0, 0, 'TLS 1.1 handshake fails')
})
