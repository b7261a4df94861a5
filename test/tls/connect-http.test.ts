// CONNECT to http tools: a tunnel's first bytes decide what it carries (issue 17). Real clients
// (Node 24 fetch with NODE_USE_ENV_PROXY=1 in a child process, undici ProxyAgent and
// EnvHttpProxyAgent, the MCP TypeScript SDK client) reach real plain-HTTP upstreams through
// CONNECT; raw sockets play the attacker (pipelined Hosts, absolute targets elsewhere, TLS to an
// http-only port, plain HTTP to an https-only tool, h2c, garbage, a silent client, a ClientHello
// one byte at a time), and every refusal or failure after the 200 is asserted in the records.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect as netConnect, createServer as netServer, type Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { EventEmitter, once } from 'node:events'
import { Duplex } from 'node:stream'
import fc from 'fast-check'
import { ProxyAgent, EnvHttpProxyAgent, fetch as undiciFetch } from 'undici'
import { startUpstream, type Upstream } from '../helpers/upstream.ts'
import { startMcpServer, type McpFixture } from '../mcp/helpers/mcp-server.ts'
import { startInterceptingGate, type InterceptingGate } from './helpers/gate.ts'
import { loopbackTool, startTestToolgate, testListeners } from '../helpers/toolgate.ts'
import type { RecordFields } from '../../proxy/src/record/records.ts'

const run = promisify(execFile)
const SECRET = 'tg-tunnel-secret-4c1d9e'
const HEADERS_MS = 400

let web: Upstream
let mcp: McpFixture
let gate: InterceptingGate
let proxyPort: number
let toolgateCa: string
/** A loopback port nothing listens on: served as https (passthrough) and as http. */
let deadPort: number
const recorded = new EventEmitter()

t.before(async () => {
  web = await startUpstream()
  mcp = await startMcpServer({ json: false })
  const probe = netServer().listen(0, '127.0.0.1')
  await once(probe, 'listening')
  deadPort = (probe.address() as { port: number }).port
  await new Promise((r) => probe.close(r))
  gate = await startInterceptingGate((dir) => {
    writeFileSync(join(dir, 'api.secret'), SECRET + '\n', { mode: 0o600 })
    return `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
  transparent_tls: { host: 127.0.0.1, port: 0 }
logging: { level: error }
timeouts: { client_headers_ms: ${HEADERS_MS} }
tls:
  ca: { publish_cert_to: shared/toolgate-ca.pem, validity_hours: 24 }
credentials:
  apikey: { type: static, secret_file: api.secret }
tools:
  - name: web
    match: { scheme: http, host: 127.0.0.1, port: ${web.port} }
    credential: { provider: apikey, header: X-Api-Key, template: "{token}" }
    routes:
      - { methods: [GET, POST], path: "/**", access: read }
    deny:
      - { path: "/admin/**", reason: "admin endpoints are off limits" }
  - name: tickets-mcp
    match: { scheme: http, host: 127.0.0.1, port: ${mcp.port} }
    routes:
      - { methods: [POST, GET, DELETE], path: "/mcp", access: read }
    mcp:
      path: /mcp
      allow_tools: ["echo", "get_*"]
      deny_tools: ["delete_*"]
      tool_access: { "echo": read, "get_*": read }
  - name: secure
    match: { scheme: https, host: localhost, port: ${web.port} }
    allow_addresses: [127.0.0.1/32]
    routes:
      - { methods: [GET], path: "/**" }
  - name: secure443
    match: { scheme: https, host: localhost }
    allow_addresses: [127.0.0.1/32]
    routes:
      - { methods: [GET], path: "/**" }
  - name: both-pt
    match: { scheme: https, host: localhost, port: ${deadPort} }
    allow_addresses: [127.0.0.1/32]
    passthrough: true
  - name: both-http
    match: { scheme: http, host: localhost, port: ${deadPort} }
    allow_addresses: [127.0.0.1/32]
    routes:
      - { methods: [GET], path: "/**", access: read }
`
  })
  proxyPort = Number(new URL(gate.proxyUrl).port)
  toolgateCa = join(gate.dir, 'shared', 'toolgate-ca.pem')
  const push = gate.records.push.bind(gate.records)
  gate.records.push = (...r: RecordFields[]) => { const n = push(...r); recorded.emit('record'); return n }
})
t.teardown(async () => {
  await gate?.close()
  await Promise.all([web?.close(), mcp?.close()])
})

/** The first record (from index `from`) that `pred` accepts; waits for it to be written. */
async function recordWhere(pred: (r: Record<string, unknown>) => boolean, from = 0, ms = 5000): Promise<Record<string, unknown>> {
  const signal = AbortSignal.timeout(ms)
  for (;;) {
    const found = gate.records.slice(from).find((r) => pred(r as Record<string, unknown>))
    if (found) return found as Record<string, unknown>
    await once(recorded, 'record', { signal })
  }
}

function assertNoSecret(t: Test, ...texts: string[]): void {
  for (const s of [...texts, gate.logs.join('\n'), JSON.stringify(gate.records)]) t.notMatch(s, SECRET, 'secret not leaked')
}

/** Opens a CONNECT tunnel by hand and returns the socket after the 200 (or the refusal text). */
async function openTunnel(authority: string): Promise<{ sock: Socket; answer: string }> {
  const sock = netConnect(proxyPort, '127.0.0.1')
  await once(sock, 'connect')
  sock.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`)
  const [first] = (await once(sock, 'data')) as [Buffer]
  return { sock, answer: first.toString('latin1') }
}

/** Everything the peer sends until it closes the connection. */
async function untilClosed(sock: Socket): Promise<string> {
  const chunks: Buffer[] = []
  sock.on('data', (c: Buffer) => chunks.push(c))
  sock.on('error', () => {})
  if (!sock.destroyed && !sock.readableEnded) await once(sock, 'close')
  return Buffer.concat(chunks).toString('latin1')
}

/** A real ClientHello, as Node's TLS client writes it (captured, never sent anywhere). */
async function clientHello(servername: string): Promise<Buffer> {
  let captured: Buffer | null = null
  const fake = new Duplex({ read() {}, write(chunk: Buffer, _e, cb) { captured ??= Buffer.from(chunk); cb() } })
  const tls = tlsConnect({ socket: fake as unknown as Socket, servername, rejectUnauthorized: false })
  tls.on('error', () => {})
  while (captured === null) await new Promise((r) => setImmediate(r))
  tls.destroy()
  return captured
}

t.test('Node fetch (NODE_USE_ENV_PROXY=1) reaches an http tool through CONNECT; each request decided as http', async (t) => {
  const before = web.received.length
  const from = gate.records.length
  const code = `const r = await fetch("http://127.0.0.1:${web.port}/v1/items?q=1", { headers: { "x-api-key": "agent-forged" } }); const b = await r.json()
const d = await fetch("http://127.0.0.1:${web.port}/admin/users"); const db = await d.text()
console.log(JSON.stringify({ status: r.status, url: b.url, host: b.headers.host, denied: d.status, shown: db.includes("admin endpoints are off limits") }))`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', code], { env: { PATH: process.env.PATH, NODE_USE_ENV_PROXY: '1', HTTP_PROXY: gate.proxyUrl, HTTPS_PROXY: gate.proxyUrl, NO_PROXY: '' } })
  t.same(JSON.parse(stdout), { status: 200, url: '/v1/items?q=1', host: `127.0.0.1:${web.port}`, denied: 403, shown: true }, 'the denial body carries the reason')
  t.equal(web.received.length, before + 1, 'the denied call never reached the upstream')
  t.equal(web.received.at(-1)!.headers['x-api-key'], SECRET, 'the credential replaced the agent\'s header')
  const tunnel = await recordWhere((r) => r.method === 'CONNECT' && r.port === web.port, from)
  t.match(tunnel, { via: 'connect', scheme: 'http', tool: 'web', decision: 'allow', status: 200 }, 'the CONNECT is decided against the http tool')
  t.notMatch(JSON.stringify(tunnel), /https:\/\//)
  const allowed = await recordWhere((r) => r.path === '/v1/items', from)
  t.match(allowed, { via: 'intercepted', scheme: 'http', tool: 'web', method: 'GET', decision: 'allow', status: 200 })
  const denied = await recordWhere((r) => r.path === '/admin/users', from)
  t.match(denied, { via: 'intercepted', scheme: 'http', tool: 'web', decision: 'deny', status: 403 })
  assertNoSecret(t, stdout)
})

t.test('undici ProxyAgent and EnvHttpProxyAgent (in process, proxyTunnel: true) tunnel http:// through CONNECT', async (t) => {
  // undici 8 sends http:// to a proxy in absolute form unless proxyTunnel is set (Node's built-in
  // fetch with NODE_USE_ENV_PROXY=1 tunnels, as the test above shows).
  const from = gate.records.length
  for (const dispatcher of [new ProxyAgent({ uri: gate.proxyUrl, proxyTunnel: true }), new EnvHttpProxyAgent({ httpProxy: gate.proxyUrl, httpsProxy: gate.proxyUrl, noProxy: '', proxyTunnel: true })]) {
    const r = await undiciFetch(`http://127.0.0.1:${web.port}/undici`, { dispatcher, method: 'POST', body: 'hello' })
    t.equal(r.status, 200)
    const echoed = (await r.json()) as { method: string; body: string; headers: Record<string, string> }
    t.same({ method: echoed.method, body: echoed.body }, { method: 'POST', body: 'hello' })
    t.equal(echoed.headers['x-api-key'], '*'.repeat(SECRET.length), 'the echoed credential comes back redacted')
    await dispatcher.close()
  }
  const connects = gate.records.slice(from).filter((r) => r.method === 'CONNECT')
  t.ok(connects.length >= 2 && connects.every((r) => r.scheme === 'http' && r.tool === 'web' && r.status === 200), 'each client opened a tunnel decided as http')
  t.equal(gate.records.slice(from).filter((r) => r.path === '/undici' && r.decision === 'allow' && r.scheme === 'http').length, 2)
})

t.test('the MCP TypeScript SDK client reaches an http:// MCP server through CONNECT (child process, NODE_USE_ENV_PROXY=1)', async (t) => {
  const from = gate.records.length
  const callsBefore = mcp.calls.length
  const code = `import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
const client = new Client({ name: 'agent', version: '1.0.0' })
await client.connect(new StreamableHTTPClientTransport(new URL(${JSON.stringify(mcp.url)})))
const tools = (await client.listTools()).tools.map((x) => x.name).sort()
const echoed = await client.callTool({ name: 'echo', arguments: { text: 'through the tunnel' } })
const denied = await client.callTool({ name: 'delete_repo', arguments: { repo: 'acme/x' } }).catch((e) => ({ isError: true, content: [{ text: String(e.message) }] }))
await client.close()
console.log(JSON.stringify({ tools, echoed: echoed.content[0].text, denied: denied.isError === true }))`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', code], { cwd: join(import.meta.dirname, '../..'), env: { PATH: process.env.PATH, NODE_USE_ENV_PROXY: '1', HTTP_PROXY: gate.proxyUrl, NO_PROXY: '' } })
  const out = JSON.parse(stdout) as { tools: string[]; echoed: string; denied: boolean }
  t.same(out.tools, ['echo', 'get_issue'], 'tools/list filtered by the allowlist')
  t.equal(out.echoed, 'through the tunnel')
  t.equal(out.denied, true, 'the denied tool call is an error to the client')
  t.same(mcp.calls.slice(callsBefore).map((c) => c.name), ['echo'], 'only the allowed call reached the server')
  t.match(await recordWhere((r) => r.method === 'CONNECT' && r.port === mcp.port, from), { scheme: 'http', tool: 'tickets-mcp', status: 200 })
  t.match(await recordWhere((r) => (r.mcp as { tool?: string } | null)?.tool === 'echo', from), { via: 'intercepted', scheme: 'http', decision: 'allow' })
  t.match(await recordWhere((r) => (r.mcp as { tool?: string } | null)?.tool === 'delete_repo', from), { via: 'intercepted', scheme: 'http', decision: 'deny' })
})

t.test('pipelined requests: one whose Host names another server is refused and recorded', async (t) => {
  const before = web.received.length
  const from = gate.records.length
  const { sock, answer } = await openTunnel(`127.0.0.1:${web.port}`)
  t.match(answer, /^HTTP\/1.1 200/)
  sock.write(`GET /one HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\n\r\nGET /two HTTP/1.1\r\nHost: evil.example:${web.port}\r\n\r\nGET /three HTTP/1.1\r\nHost: 127.0.0.1:${web.port + 1}\r\nConnection: close\r\n\r\n`)
  const text = await untilClosed(sock)
  t.match(text, /^HTTP\/1.1 200/)
  t.match(text, /HTTP\/1.1 400[^]*disagrees with the tunnel/)
  t.same(web.received.slice(before).map((r) => r.url), ['/one'], 'only the request for the CONNECT target reached the upstream')
  const refused = await recordWhere((r) => r.decision === 'deny' && /disagrees with the tunnel/.test(String(r.reasons)), from)
  t.match(refused, { stage: 'parse', status: 400 })
})

t.test('an absolute-form target inside the tunnel pointing elsewhere is refused', async (t) => {
  const before = web.received.length
  const { sock } = await openTunnel(`127.0.0.1:${web.port}`)
  sock.write(`GET http://127.0.0.1:${mcp.port}/mcp HTTP/1.1\r\nHost: 127.0.0.1:${mcp.port}\r\nConnection: close\r\n\r\n`)
  t.match(await untilClosed(sock), /^HTTP\/1.1 400[^]*disagrees with the tunnel/)
  const { sock: s2 } = await openTunnel(`127.0.0.1:${web.port}`)
  s2.write(`GET https://127.0.0.1:${web.port}/x HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\nConnection: close\r\n\r\n`)
  t.match(await untilClosed(s2), /^HTTP\/1.1 400/, 'an https:// target in a plain tunnel is another scheme: refused')
  t.equal(web.received.length, before)
})

t.test('TLS to a port only served as http is refused after the 200 and recorded, linked to the CONNECT', async (t) => {
  const from = gate.records.length
  const { sock, answer } = await openTunnel(`127.0.0.1:${web.port}`)
  t.match(answer, /^HTTP\/1.1 200/)
  sock.write(await clientHello('localhost'))
  t.equal(await untilClosed(sock), '', 'closed without an answer')
  const connect = await recordWhere((r) => r.method === 'CONNECT', from)
  const failed = await recordWhere((r) => r.tunnel_id === connect.id, from)
  t.match(failed, { decision: 'deny', stage: 'route', status: 0, failure: { kind: 'tunnel_protocol', reason: /TLS refused[^]*serves it as plain http/ } })
})

t.test('plain HTTP to an https-only tool gets a readable 400 and a record', async (t) => {
  const from = gate.records.length
  const { sock, answer } = await openTunnel(`localhost:${web.port}`)
  t.match(answer, /^HTTP\/1.1 200/)
  sock.write(`GET / HTTP/1.1\r\nHost: localhost:${web.port}\r\n\r\n`)
  const text = await untilClosed(sock)
  t.match(text, /^HTTP\/1.1 400/)
  t.match(text, /plain HTTP refused in this tunnel: no tool serves localhost:\d+ as plain http \(tool secure serves it as https only\)/)
  const failed = await recordWhere((r) => (r.failure as { kind?: string } | null)?.kind === 'tunnel_protocol' && r.status === 400, from)
  t.ok(text.includes(String(failed.id)), 'the answer names the record')
  t.equal(failed.tunnel_id, (await recordWhere((r) => r.method === 'CONNECT', from)).id)
})

t.test('h2c prior knowledge, garbage and a silent client are refused and recorded', async (t) => {
  const cases: Array<{ bytes: Buffer | null; reason: RegExp; kind: string }> = [
    { bytes: Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), reason: /h2c/, kind: 'tunnel_protocol' },
    { bytes: Buffer.from([0x00, 0x01, 0x02, 0xff]), reason: /neither a TLS ClientHello nor an HTTP request line/, kind: 'tunnel_protocol' },
    { bytes: Buffer.from([0x16, 0x01]), reason: /unknown version/, kind: 'tunnel_protocol' },
    { bytes: Buffer.from('A'.repeat(40)), reason: /no HTTP method within/, kind: 'tunnel_protocol' },
    { bytes: null, reason: new RegExp(`within ${HEADERS_MS} ms`), kind: 'client_timeout' },
  ]
  for (const c of cases) {
    const from = gate.records.length
    const { sock } = await openTunnel(`127.0.0.1:${web.port}`)
    if (c.bytes) sock.write(c.bytes)
    t.equal(await untilClosed(sock), '', `closed: ${c.kind} ${c.reason}`)
    const connect = await recordWhere((r) => r.method === 'CONNECT', from)
    t.match(await recordWhere((r) => r.tunnel_id === connect.id, from), { decision: 'deny', failure: { kind: c.kind, reason: c.reason } })
  }
})

t.test('a ClientHello sent one byte at a time is intercepted as usual', async (t) => {
  const { sock } = await openTunnel(`localhost:${web.port}`)
  sock.setNoDelay(true)
  const hello = await clientHello('localhost')
  const answer = once(sock, 'data') as Promise<[Buffer]>
  for (const b of hello) {
    sock.write(Buffer.from([b]))
    await new Promise((r) => setImmediate(r))
  }
  const [first] = await answer
  t.same([first[0], first[1]], [0x16, 0x03], 'the interceptor answered with a TLS handshake record (ServerHello)')
  sock.destroy()
})

t.test('a CONNECT to a host:port no tool serves names both schemes it checked', async (t) => {
  const { answer } = await openTunnel('127.0.0.1:9')
  t.match(answer, /^HTTP\/1.1 403/)
  t.match(answer, /no tool in the allowlist matches 127\.0\.0\.1:9 as https or as http/)
})

t.test('a failed TLS handshake after an allowed CONNECT is recorded as a failed call (client_tls)', async (t) => {
  // An ALPN protocol the interceptor never offers, and a client that does not trust toolgate's CA.
  const attempts: Array<{ opts: ConnectionOptions; reason: RegExp }> = [
    { opts: { servername: 'localhost', ALPNProtocols: ['spdy/3'], ca: readFileSync(toolgateCa, 'utf8') }, reason: /NO_APPLICATION_PROTOCOL/ },
    { opts: { servername: 'localhost' }, reason: /closed the connection before completing the TLS handshake/ },
  ]
  for (const a of attempts) {
    const from = gate.records.length
    const { sock } = await openTunnel(`localhost:${web.port}`)
    const tls = tlsConnect({ ...a.opts, socket: sock })
    const [err] = (await once(tls, 'error')) as [Error]
    t.ok(err, `the client failed: ${err.message}`)
    sock.destroy() // the client gives up and closes its connection (Node sends no alert for an untrusted certificate)
    const connect = await recordWhere((r) => r.method === 'CONNECT', from)
    t.match(connect, { decision: 'allow', status: 200, tool: 'secure' })
    const failed = await recordWhere((r) => r.tunnel_id === connect.id, from)
    t.match(failed, { decision: 'allow', tool: 'secure', status: 0, failure: { kind: 'client_tls', reason: a.reason } })
    t.comment(`recorded: ${JSON.stringify(failed.failure)}`)
    t.not(failed.id, connect.id)
  }
  // A TLS record header followed by something that is no ClientHello.
  const from = gate.records.length
  const { sock } = await openTunnel(`localhost:${web.port}`)
  sock.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0x63, 0x61, 0x66, 0x65, 0x21]))
  await untilClosed(sock)
  const connect = await recordWhere((r) => r.method === 'CONNECT', from)
  t.match(await recordWhere((r) => r.tunnel_id === connect.id, from), { status: 0, failure: { kind: 'client_tls', reason: /TLS handshake with the client failed/ } }, 'a malformed ClientHello')
})

t.test('a host:port served both ways: TLS goes to the passthrough tool, plain HTTP is decided as http; failures are recorded', async (t) => {
  const from = gate.records.length
  const { sock, answer } = await openTunnel(`localhost:${deadPort}`)
  t.match(answer, /^HTTP\/1.1 200/, 'the tunnel opens before its first bytes are read')
  sock.write(await clientHello('localhost'))
  t.equal(await untilClosed(sock), '', 'the passthrough upstream cannot be reached: closed')
  const connect = await recordWhere((r) => r.method === 'CONNECT' && r.port === deadPort, from)
  t.match(connect, { tool: 'both-pt', scheme: 'https', status: 200 })
  t.match(await recordWhere((r) => r.tunnel_id === connect.id, from), { tool: 'both-pt', decision: 'allow', failure: { kind: 'upstream_connect', reason: /ECONNREFUSED/ } })

  const from2 = gate.records.length
  const { sock: plain } = await openTunnel(`localhost:${deadPort}`)
  plain.write(`GET /x HTTP/1.1\r\nHost: localhost:${deadPort}\r\nConnection: close\r\n\r\n`)
  t.match(await untilClosed(plain), /^HTTP\/1.1 502/, 'plain HTTP was decided and forwarded as http (the upstream is down)')
  t.match(await recordWhere((r) => r.path === '/x', from2), { via: 'intercepted', scheme: 'http', tool: 'both-http', decision: 'allow', status: 502 })
})

t.test('a failed handshake on the transparent TLS listener is recorded too, linked to its decision', async (t) => {
  const from = gate.records.length
  const tls = tlsConnect({ host: '127.0.0.1', port: gate.transparent.tls!.port, servername: 'localhost', ALPNProtocols: ['spdy/3'], ca: readFileSync(toolgateCa, 'utf8') })
  await once(tls, 'error')
  const opened = await recordWhere((r) => r.via === 'transparent' && r.status === 200, from)
  t.match(opened, { tool: 'secure443', decision: 'allow' })
  t.match(await recordWhere((r) => r.tunnel_id === opened.id, from), { via: 'transparent', status: 0, failure: { kind: 'client_tls', reason: /NO_APPLICATION_PROTOCOL/ } })
})

t.test('property: through toolgate, what a tunnel carries never depends on how its first bytes are split', async (t) => {
  const hello = await clientHello('localhost')
  const payloads = {
    http: { authority: `127.0.0.1:${web.port}`, bytes: Buffer.from(`GET /split HTTP/1.1\r\nHost: 127.0.0.1:${web.port}\r\nConnection: close\r\n\r\n`) },
    tls: { authority: `localhost:${web.port}`, bytes: hello },
    tlsToHttpOnly: { authority: `127.0.0.1:${web.port}`, bytes: hello },
    h2c: { authority: `127.0.0.1:${web.port}`, bytes: Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n') },
    httpToHttpsOnly: { authority: `localhost:${web.port}`, bytes: Buffer.from(`POST / HTTP/1.1\r\nHost: localhost:${web.port}\r\n\r\n`) },
  }
  const expected: Record<keyof typeof payloads, RegExp> = { http: /^HTTP\/1.1 200/, tls: /^\x16\x03/, tlsToHttpOnly: /^$/, h2c: /^$/, httpToHttpsOnly: /^HTTP\/1.1 400/ }
  await t.resolves(fc.assert(fc.asyncProperty(fc.constantFrom(...(Object.keys(payloads) as Array<keyof typeof payloads>)), fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 5 }), async (kind, cuts) => {
    const { authority, bytes } = payloads[kind]
    const { sock } = await openTunnel(authority)
    sock.setNoDelay(true)
    const answer = kind === 'tls' ? (once(sock, 'data') as Promise<[Buffer]>).then(([b]) => { sock.destroy(); return b.toString('latin1') }) : untilClosed(sock)
    let at = 0
    for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
      sock.write(bytes.subarray(at, cut))
      at = cut
      await new Promise((r) => setImmediate(r))
    }
    sock.write(bytes.subarray(at))
    const text = await answer
    if (!expected[kind].test(text)) throw new Error(`${kind} split at ${JSON.stringify(cuts)}: ${JSON.stringify(text.slice(0, 40))}`)
  }), { numRuns: 25 }))
})

t.test('plain HTTP tunnels need no TLS interception: a sidecar with only http tools serves them', async (t) => {
  const plainGate = await startTestToolgate(`version: 1\n${testListeners}tools:\n${loopbackTool('web', web.port)}`)
  t.teardown(() => plainGate.close())
  t.match(plainGate.logs.join('\n'), /TLS interception not created/)
  const r = await undiciFetch(`http://127.0.0.1:${web.port}/no-tls`, { dispatcher: new ProxyAgent({ uri: plainGate.proxyUrl, proxyTunnel: true }) })
  t.equal(r.status, 200)
  t.match(plainGate.records.find((x) => x.path === '/no-tls'), { via: 'intercepted', scheme: 'http', tool: 'web', decision: 'allow' })
})

t.test('the credential is in no record and no log line written by any of the above', async (t) => {
  t.ok(gate.records.length > 50, 'many records were written')
  assertNoSecret(t)
})
