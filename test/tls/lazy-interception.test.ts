// TLS interception exists only once a config needs it (tls.ca, an HTTPS tool that is not
// passthrough, or the transparent TLS listener). A sidecar with plain-HTTP tools never loads the
// X.509 code nor makes a CA; a reload that brings an inspected HTTPS tool creates the interceptor
// before it takes effect, and a reload whose interceptor cannot be created is refused whole.
// Real toolgates, a real HTTPS upstream with its own test CA, real TLS clients.
import t from 'tap'
import { registerHooks } from 'node:module'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { once } from 'node:events'

// Every module this process loads from here on, to show what a plain-HTTP start does not load.
// Registered before any of toolgate is imported (hence the dynamic imports below).
const loaded: string[] = []
registerHooks({ load: (url, context, next) => { loaded.push(url); return next(url, context) } })

const { startTestToolgate, testConfig, loopbackTool, testListeners } = await import('../helpers/toolgate.ts')
const { startUpstream } = await import('../helpers/upstream.ts')
const { viaProxy } = await import('../helpers/proxy-client.ts')
const { makeServerCert, makeTestCa, startHttpsUpstream } = await import('./helpers/https-upstream.ts')
const { ConfigWatcher } = await import('../../proxy/src/config/watch.ts')
const { createLogger } = await import('../../proxy/src/record/log.ts')
const { interceptionNeed } = await import('../../proxy/src/listen/interception.ts')

type TestToolgate = Awaited<ReturnType<typeof startTestToolgate>>
const run = promisify(execFile)
const SECRET = 'tg-lazy-secret-5e4d3c2b1a'

const dir = mkdtempSync(join(tmpdir(), 'toolgate-lazy-'))
const upstreamCa = makeTestCa(dir, 'upstream-ca')
const api = await startHttpsUpstream(makeServerCert(dir, upstreamCa, 'api', ['localhost']))
const plain = await startUpstream()
t.teardown(async () => {
  await Promise.all([api.close(), plain.close()])
})

const plainYaml = `version: 1
${testListeners}tools:
${loopbackTool('plain', plain.port)}`

/** plainYaml plus an inspected HTTPS tool that gets a static credential, and `tls` as given. */
function httpsYaml(gateDir: string, tls: string): string {
  writeFileSync(join(gateDir, 'api.secret'), SECRET + '\n', { mode: 0o600 })
  return `${plainYaml}  - name: api
    match: { scheme: https, host: localhost, port: ${api.port} }
    allow_addresses: [127.0.0.1/32]
    credential: { provider: apikey, header: X-Api-Key, template: "{token}" }
    routes:
      - { methods: [GET], path: "/**" }
credentials:
  apikey: { type: static, secret_file: ${join(gateDir, 'api.secret')} }
tls:
  upstream_ca_files: [${upstreamCa.certFile}]
${tls}`
}

async function metricsText(gate: TestToolgate): Promise<string> {
  return (await fetch(`${gate.adminUrl}/metrics`)).text()
}

/** CONNECT through the proxy, then TLS (trusting `ca`, or anything when ca is null) and one GET. */
async function getThroughTunnel(proxyUrl: string, path: string, ca: string | null): Promise<{ connect: string; issuer: string; response: string }> {
  const sock = netConnect(Number(new URL(proxyUrl).port), '127.0.0.1')
  await once(sock, 'connect')
  sock.write(`CONNECT localhost:${api.port} HTTP/1.1\r\nHost: localhost:${api.port}\r\n\r\n`)
  const [first] = (await once(sock, 'data')) as [Buffer]
  const connect = first.toString().split('\r\n')[0]!
  if (!connect.includes(' 200 ')) { sock.destroy(); return { connect, issuer: '', response: '' } }
  const tlsSock = tlsConnect({ socket: sock, servername: 'localhost', ...(ca === null ? { rejectUnauthorized: false } : { ca }) })
  await once(tlsSock, 'secureConnect')
  const issuer = String(tlsSock.getPeerCertificate().issuer.CN)
  tlsSock.write(`GET ${path} HTTP/1.1\r\nHost: localhost:${api.port}\r\nConnection: close\r\n\r\n`)
  const chunks: Buffer[] = []
  tlsSock.on('data', (c: Buffer) => chunks.push(c))
  await once(tlsSock, 'end')
  tlsSock.destroy()
  return { connect, issuer, response: Buffer.concat(chunks).toString() }
}

t.test('which configs need interception', async (t) => {
  const need = (yaml: string) => interceptionNeed(testConfig(yaml))
  t.equal(need(plainYaml), null, 'plain-HTTP tools only')
  t.equal(need(`${plainYaml}  - name: pass
    match: { scheme: https, host: pass.example.com }
    passthrough: true
`), null, 'an HTTPS tool that is passthrough')
  t.match(need(`${plainYaml}  - name: gh
    match: { host: api.github.com }
`), /tool gh/, 'a tool without scheme is HTTPS, inspected')
  t.match(need(`${plainYaml}tls:\n  ca: { publish_cert_to: ${join(dir, 'ca.pem')} }\n`), /tls\.ca/, 'tls.ca set (the CA file must be published before ready)')
  t.match(need(plainYaml.replace('logging:', '  transparent_tls: { host: 127.0.0.1, port: 0 }\nlogging:')), /transparent TLS/, 'the transparent TLS listener')
})

t.test('plain-HTTP tools only: no CA, no TLS code loaded', async (t) => {
  const gate = await startTestToolgate(plainYaml)
  t.teardown(() => gate.close())
  t.equal(gate.tg.intercepting(), false)
  const res = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${plain.port}/x`)
  t.equal(res.status, 200, 'the plain tool is served')
  t.notMatch(await metricsText(gate), /toolgate_tls_/, 'no TLS interception metrics (no interceptor, no leaf cache)')
  t.notOk(gate.logs.some((l) => l.includes('TLS interception CA ready')), 'no CA made')
  t.ok(gate.logs.some((l) => l.includes('TLS interception not created')), 'says why there is none')
  t.ok(loaded.some((u) => u.endsWith('/proxy/src/server.ts')), 'the load hook sees toolgate\'s modules')
  const tlsModules = loaded.filter((u) => /\/listen\/tls\/|@peculiar|asn1js|tsyringe/.test(u))
  t.same(tlsModules, [], 'neither listen/tls/* nor @peculiar/x509 was loaded')
})

t.test('a reload that adds an inspected HTTPS tool creates the interceptor first', async (t) => {
  const gate = await startTestToolgate(plainYaml)
  t.teardown(() => gate.close())
  t.equal(gate.tg.intercepting(), false)
  const gateDir = mkdtempSync(join(tmpdir(), 'toolgate-lazy-gate-'))
  await gate.tg.applyConfig(testConfig(httpsYaml(gateDir, ''), gateDir))
  t.equal(gate.tg.intercepting(), true, 'interception exists once the config needs it')
  t.ok(gate.logs.some((l) => l.includes('TLS interception created') && l.includes('tool api')), 'created because of the tool')

  const before = api.received.length
  const r = await getThroughTunnel(gate.proxyUrl, '/v1/items?a=1', null)
  t.match(r.connect, / 200 /, 'tunnel opened')
  t.match(r.issuer, /^toolgate per-pod CA /, 'the client sees a leaf minted by the new CA, not the upstream certificate')
  t.match(r.response, /^HTTP\/1\.1 200 /)
  const echoed = JSON.parse(r.response.slice(r.response.indexOf('\r\n\r\n') + 4)) as { url: string; headers: Record<string, string> }
  t.equal(echoed.url, '/v1/items?a=1')
  t.equal(api.received.length, before + 1)
  t.equal(api.received.at(-1)!.headers['x-api-key'], SECRET, 'decided and given the credential inside the tunnel')
  t.equal(echoed.headers['x-api-key'], '*'.repeat(SECRET.length), 'the echo of it is redacted on the way back')
  t.match(gate.records.at(-1), { tool: 'api', via: 'intercepted', decision: 'allow' })
  t.match(await metricsText(gate), /toolgate_tls_handshakes_total\{result="ok"\} 1/)

  // The interceptor lives for the process: a reload back to plain tools keeps it.
  await gate.tg.applyConfig(testConfig(plainYaml))
  t.equal(gate.tg.intercepting(), true)
})

t.test('a reload that brings tls.ca publishes the CA before it takes effect; curl trusts it', async (t) => {
  const gate = await startTestToolgate(plainYaml)
  t.teardown(() => gate.close())
  const gateDir = mkdtempSync(join(tmpdir(), 'toolgate-lazy-gate-'))
  const published = join(gateDir, 'shared', 'ca.pem')
  await gate.tg.applyConfig(testConfig(httpsYaml(gateDir, '  ca: { publish_cert_to: shared/ca.pem }\n'), gateDir))
  t.ok(existsSync(published), 'published when applyConfig returns')
  t.notMatch(readFileSync(published, 'utf8'), /PRIVATE KEY/)
  const { stdout } = await run('curl', ['-sS', '--cacert', published, '-x', gate.proxyUrl, `https://localhost:${api.port}/via-curl`])
  const echoed = JSON.parse(stdout) as { url: string; headers: Record<string, string> }
  t.equal(echoed.url, '/via-curl')
  t.equal(api.received.find((r) => r.url === '/via-curl')?.headers['x-api-key'], SECRET)
})

t.test('a reload whose interceptor cannot be created is refused; the old config keeps serving', async (t) => {
  const gate = await startTestToolgate(plainYaml)
  t.teardown(() => gate.close())
  const gateDir = mkdtempSync(join(tmpdir(), 'toolgate-lazy-gate-'))
  const file = join(gateDir, 'toolgate.yaml')
  writeFileSync(file, plainYaml)
  const failures: string[] = []
  let applied = 0
  // Wired as `toolgate run` wires it: onChange is applyConfig, a throw reaches onError.
  const watcher = new ConfigWatcher({
    file,
    logger: createLogger({ level: 'error', write: () => {} }),
    debounceMs: 50,
    pollMs: 0,
    appliedHash: gate.config.source.hash,
    onChange: async (next) => { await gate.tg.applyConfig(next); applied++ },
    onError: (errors) => { failures.push(...errors.map((e) => e.message)) },
  })
  watcher.start()
  t.teardown(() => watcher.close())
  const waitFor = async (what: string, predicate: () => boolean): Promise<void> => {
    const until = Date.now() + 10_000
    while (!predicate()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  // A mounted CA whose key file is not a key: schema-valid, but the CA cannot be loaded.
  writeFileSync(join(gateDir, 'bad.key'), 'not a key\n')
  const hashBefore = gate.tg.runtime().config.source.hash
  writeFileSync(file, httpsYaml(gateDir, `  ca: { cert_file: ${upstreamCa.certFile}, key_file: bad.key }\n`))
  await waitFor('the reload to be refused', () => failures.length > 0)
  t.match(failures[0], /could not be applied.*tls\.ca\.key_file bad\.key is not a usable private key/)
  t.equal(applied, 0)
  t.equal(gate.tg.runtime().config.source.hash, hashBefore, 'the old config is still in force')
  t.equal(gate.tg.runtime().allowlist.matchTarget({ scheme: 'https', host: 'localhost', port: api.port }), null, 'the new tool is not in the allowlist')
  t.equal(gate.tg.intercepting(), false)
  const res = await viaProxy(gate.proxyUrl, 'GET', `http://127.0.0.1:${plain.port}/still`)
  t.equal(res.status, 200, 'the old config keeps serving')
  const before = api.received.length
  const r = await getThroughTunnel(gate.proxyUrl, '/x', null)
  t.match(r.connect, / 403 /, 'the tool of the refused config is not reachable')
  t.equal(api.received.length, before)

  // Nothing was kept: the same change with a usable CA is applied (and creates the interceptor).
  writeFileSync(file, httpsYaml(gateDir, `  ca: { cert_file: ${upstreamCa.certFile}, key_file: ${upstreamCa.keyFile}, publish_cert_to: ca.pem }\n`))
  await waitFor('the fixed config to be applied', () => applied === 1)
  t.equal(gate.tg.intercepting(), true)
  const ok = await getThroughTunnel(gate.proxyUrl, '/fixed', readFileSync(join(gateDir, 'ca.pem'), 'utf8'))
  t.match(ok.issuer, /^upstream-ca$/, 'leaf signed by the mounted CA')
  t.match(ok.response, /^HTTP\/1\.1 200 /)
})

t.test('without an interceptor an inspected tool is refused, never tunnelled unseen', async (t) => {
  const gateDir = mkdtempSync(join(tmpdir(), 'toolgate-lazy-gate-'))
  const yaml = httpsYaml(gateDir, '')
  // interceptor: null is the embedder switching interception off.
  const gate = await startTestToolgate(yaml, { interceptor: null })
  t.teardown(() => gate.close())
  t.equal(gate.tg.intercepting(), false)
  const before = api.received.length
  const r = await getThroughTunnel(gate.proxyUrl, '/x', null)
  t.match(r.connect, / 403 /)
  t.equal(api.received.length, before, 'nothing reached the upstream')
  t.match(gate.records.at(-1), { tool: 'api', decision: 'deny', reasons: [/must be inspected, but TLS interception is not available/] })
})
