// HTTP/2 through interception, with real components: toolgate intercepting CONNECT tunnels, a real
// h2 upstream (node:http2), a real h1-only HTTPS upstream, a real gRPC server (@grpc/grpc-js), and
// real clients: Node's http2 client, curl --http2, grpc-js and grpcio in child processes with only
// proxy and CA variables. Every stream is decided like an HTTP/1.1 request (one record each), the
// credential reaches the upstream and never the client, and what a conforming client would not
// send (raw frames) is refused.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { constants as h2c } from 'node:http2'
import { makeServerCert, makeTestCa, startHttpsUpstream, type HttpsUpstream } from './helpers/https-upstream.ts'
import { startInterceptingGate, type InterceptingGate } from './helpers/gate.ts'
import { frame, h2Request, h2Through, hpackBlock, PREFACE, readFrames, startGrpcUpstream, startH2Upstream, tunnelTls, type GrpcUpstream, type H2Upstream } from './helpers/h2.ts'
import { readFileSync } from 'node:fs'

const run = promisify(execFile)
const SECRET = 'tg-h2-secret-5a4b3c2d1e'
const MAX_HEADER = 8192

let h2up: H2Upstream
let h1up: HttpsUpstream
let grpcUp: GrpcUpstream
let grpcOnH1: HttpsUpstream
let gate: InterceptingGate
let ca: string
let caFile: string

t.before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-h2-'))
  const upstreamCa = makeTestCa(dir, 'h2-upstream-ca')
  const pair = makeServerCert(dir, upstreamCa, 'h2', ['localhost', '127.0.0.1'])
  h2up = await startH2Upstream(pair)
  h1up = await startHttpsUpstream(pair)
  grpcUp = await startGrpcUpstream(pair)
  grpcOnH1 = await startHttpsUpstream(pair)
  const tool = (name: string, port: number, routes: string, extra = ''): string => `  - name: ${name}
    match: { scheme: https, host: localhost, port: ${port} }
    allow_addresses: [127.0.0.1/32]
    credential: { provider: apikey, header: X-Api-Key, template: "{token}" }
    routes:
${routes}
${extra}`
  gate = await startInterceptingGate((gdir) => {
    writeFileSync(join(gdir, 'api.secret'), SECRET + '\n', { mode: 0o600 })
    return `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
logging: { level: error }
limits: { max_header_bytes: ${MAX_HEADER}, max_request_body_bytes: 65536, max_h2_streams: 50 }
tls:
  ca: { publish_cert_to: shared/toolgate-ca.pem, validity_hours: 24 }
  upstream_ca_files: [${upstreamCa.certFile}]
credentials:
  apikey: { type: static, secret_file: api.secret }
tools:
${tool('h2api', h2up.port, '      - { methods: [GET], path: "/**" }\n      - { methods: [POST], path: "/**", access: read }', '    deny:\n      - { path: "/admin/**", reason: "admin endpoints are off limits" }\n')}
${tool('h1api', h1up.port, '      - { methods: [GET], path: "/**" }')}
${tool('grpc', grpcUp.port, '      - { methods: [POST], path: "/test.Echo/**", access: read }', '    deny:\n      - { path: "/test.Echo/Forbidden", reason: "this rpc is not for agents" }\n')}
${tool('grpch1', grpcOnH1.port, '      - { methods: [POST], path: "/**", access: read }')}
`
  })
  caFile = join(gate.dir, 'shared', 'toolgate-ca.pem')
  ca = readFileSync(caFile, 'utf8')
})
t.teardown(async () => {
  await gate?.close()
  await Promise.all([h2up?.close(), h1up?.close(), grpcUp?.close(), grpcOnH1?.close()])
})

function assertNoSecret(t: Test, ...texts: string[]): void {
  for (const s of [...texts, gate.logs.join('\n'), JSON.stringify(gate.records)]) t.notMatch(s, SECRET, 'secret not leaked')
}

const get = (port: number, path: string, extra: Record<string, string> = {}) => ({ ':method': 'GET', ':path': path, ':scheme': 'https', ':authority': `localhost:${port}`, ...extra })

t.test('ALPN: h2 is chosen when the client offers it, http/1.1 when it offers only that', async (t) => {
  const h2 = await tunnelTls(gate.proxyUrl, 'localhost', h2up.port, ca, ['http/1.1', 'h2'])
  t.equal(h2.alpnProtocol, 'h2')
  h2.destroy()
  const h1 = await tunnelTls(gate.proxyUrl, 'localhost', h2up.port, ca, ['http/1.1'])
  t.equal(h1.alpnProtocol, 'http/1.1')
  h1.destroy()
})

t.test('Node http2 client: allowed streams reach the upstream with the credential, one record each', async (t) => {
  const { session } = await h2Through(gate.proxyUrl, 'localhost', h2up.port, ca)
  t.teardown(() => session.destroy())
  const before = gate.records.length
  const seen = h2up.received.length
  const answers = await Promise.all([0, 1, 2, 3, 4].map((i) => h2Request(session, get(h2up.port, `/v1/items/${i}`, { 'x-api-key': 'agent-forged' }))))
  t.same(answers.map((a) => a.status), [200, 200, 200, 200, 200])
  t.equal(h2up.received.length, seen + 5)
  for (const r of h2up.received.slice(seen)) {
    t.equal(r.httpVersion, '1.1', 'non-gRPC calls go upstream over HTTP/1.1 (gRPC over h2: see below)')
    t.equal(r.headers['x-api-key'], SECRET, 'the upstream got the credential, not the forged header')
  }
  const echoed = JSON.parse(answers[0]!.body) as { headers: Record<string, string> }
  t.equal(echoed.headers['x-api-key'], '*'.repeat(SECRET.length), 'the echoed credential is redacted on its way back')
  const recs = gate.records.slice(before).filter((r) => r.type === 'decision' && r.via !== 'connect')
  t.equal(recs.length, 5, 'one record per stream')
  t.ok(recs.every((r) => r.via === 'intercepted' && r.decision === 'allow' && r.tool === 'h2api'))
  assertNoSecret(t, ...answers.map((a) => a.body))
})

t.test('a denied stream gets 403 with the reason; the other streams on the connection go on', async (t) => {
  const { session } = await h2Through(gate.proxyUrl, 'localhost', h2up.port, ca)
  t.teardown(() => session.destroy())
  const seen = h2up.received.length
  const [denied, allowed] = await Promise.all([h2Request(session, get(h2up.port, '/admin/users')), h2Request(session, get(h2up.port, '/ok'))])
  t.equal(denied.status, 403)
  t.match(JSON.parse(denied.body), { error: { code: 'denied', message: /off limits/, decision_id: /.+/ } })
  t.equal(allowed.status, 200)
  t.equal(h2up.received.length, seen + 1, 'the denied stream never reached the upstream')
})

t.test('response trailers reach the h2 client; a trailer carrying the credential is redacted', async (t) => {
  const { session } = await h2Through(gate.proxyUrl, 'localhost', h2up.port, ca)
  t.teardown(() => session.destroy())
  const ok = await h2Request(session, get(h2up.port, '/trailers'))
  t.equal(ok.status, 200)
  t.equal(ok.trailers['x-checksum'], 'abc123')
  const before = gate.records.length
  const reflected = await h2Request(session, get(h2up.port, '/reflect-trailer'))
  t.equal(reflected.trailers['x-echo'], '[redacted]', 'the credential in a trailer is redacted like in a header')
  t.match(JSON.stringify(gate.records.slice(before)), /credential_reflected/, 'the record says the credential came back')
  assertNoSecret(t, JSON.stringify(reflected))
})

t.test('a request body without content-length is forwarded; the body limit applies as for h1', async (t) => {
  const { session } = await h2Through(gate.proxyUrl, 'localhost', h2up.port, ca)
  t.teardown(() => session.destroy())
  const sent = await h2Request(session, { ...get(h2up.port, '/post'), ':method': 'POST', 'content-type': 'text/plain' }, 'hello over h2')
  t.equal(sent.status, 200)
  t.equal(JSON.parse(sent.body).body, 'hello over h2')
  const before = gate.records.length
  const declared = await h2Request(session, { ...get(h2up.port, '/post'), ':method': 'POST', 'content-length': '100000' }, Buffer.alloc(100_000, 'a'))
  t.equal(declared.status, 413)
  t.match(gate.records.slice(before).filter((r) => r.via === 'intercepted'), [{ status: 413, failure: { kind: 'request_too_large' } }])
})

t.test('an undeclared request body over the limit gets 413 on its stream and a record, not a hang', async (t) => {
  const { session } = await h2Through(gate.proxyUrl, 'localhost', h2up.port, ca)
  t.teardown(() => session.destroy())
  const before = gate.records.length
  const seen = h2up.received.length
  // No content-length: the limit can only be found while the body streams (usual in h2).
  const answer = await Promise.race([
    h2Request(session, { ...get(h2up.port, '/post'), ':method': 'POST', 'content-type': 'text/plain' }, Buffer.alloc(100_000, 'a')),
    new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000)),
  ])
  t.not(answer, null, 'the stream is answered, not left open until the idle timeout')
  t.equal(answer?.status, 413)
  t.match(answer?.body ?? '', /request body exceeds 65536 bytes/)
  t.match(gate.records.slice(before).filter((r) => r.via === 'intercepted'), [{ status: 413, failure: { kind: 'request_too_large' } }])
  t.equal(h2up.received.length, seen, 'the upstream never saw a complete request')
})

t.test('an h2 client reaching an HTTP/1.1-only upstream is forwarded as HTTP/1.1', async (t) => {
  const { session } = await h2Through(gate.proxyUrl, 'localhost', h1up.port, ca)
  t.teardown(() => session.destroy())
  const seen = h1up.received.length
  const a = await h2Request(session, get(h1up.port, '/from-h2', { cookie: 'a=1' }))
  const b = await h2Request(session, { ...get(h1up.port, '/cookies'), cookie: ['a=1', 'b=2'] })
  t.equal(a.status, 200)
  t.equal(b.status, 200)
  t.equal(h1up.received[seen]!.headers['x-api-key'], SECRET)
  t.equal(h1up.received[seen]!.headers.host, `localhost:${h1up.port}`)
  t.equal(h1up.received[seen + 1]!.headers['x-api-key'], SECRET)
})

t.test('curl --http2 through the proxy', async (t) => {
  const { stdout } = await run('curl', ['-sS', '--http2', '--cacert', caFile, '-x', gate.proxyUrl, '-w', '\n%{http_version}', `https://localhost:${h2up.port}/curl`])
  const [body, version] = stdout.split('\n')
  t.equal(version, '2')
  t.equal(JSON.parse(body!).headers['x-api-key'], '*'.repeat(SECRET.length))
  t.equal(h2up.received.at(-1)!.headers['x-api-key'], SECRET)
})

t.test('attacker: authority games are refused and recorded, never forwarded', async (t) => {
  const { session } = await h2Through(gate.proxyUrl, 'localhost', h2up.port, ca)
  t.teardown(() => session.destroy())
  const seen = h2up.received.length
  const before = gate.records.length
  const cases: Array<[string, Record<string, string>, RegExp]> = [
    ['Host disagrees with :authority', { ...get(h2up.port, '/x'), host: 'evil.example' }, /disagrees with the Host header/],
    [':authority names another host than the tunnel', get(h2up.port, '/x', { ':authority': `127.0.0.1:${h1up.port}` }), /disagrees with the tunnel/],
    ['absolute-form :path', get(h2up.port, `https://localhost:${h1up.port}/x`), /origin form/],
    [':scheme http on TLS', get(h2up.port, '/x', { ':scheme': 'http' }), /:scheme/],
  ]
  for (const [name, headers, reason] of cases) {
    const a = await h2Request(session, headers)
    if (a.reset !== null) { t.pass(`${name}: reset by the framing layer (nghttp2)`); continue }
    t.equal(a.status, 400, name)
    t.match(JSON.parse(a.body).error.message, reason, name)
  }
  const connect = await h2Request(session, { ':method': 'CONNECT', ':authority': `localhost:${h1up.port}` })
  t.ok(connect.status === 405 || connect.reset !== null, 'CONNECT inside h2 is refused')
  t.equal(h2up.received.length, seen, 'nothing reached the upstream')
  t.ok(gate.records.slice(before).every((r) => r.decision !== 'allow'))
  t.ok(gate.records.length - before >= cases.length - 1, 'each refusal that reached toolgate recorded')
})

t.test('attacker: raw header blocks no conforming client sends', async (t) => {
  const blocks: Array<[string, Array<[string, string]>]> = [
    ['connection-specific header', [[':method', 'GET'], [':scheme', 'https'], [':path', '/x'], [':authority', `localhost:${h2up.port}`], ['connection', 'close']]],
    ['transfer-encoding', [[':method', 'GET'], [':scheme', 'https'], [':path', '/x'], [':authority', `localhost:${h2up.port}`], ['transfer-encoding', 'chunked']]],
    ['pseudo-header after a regular one', [[':method', 'GET'], [':scheme', 'https'], ['x-a', '1'], [':path', '/x'], [':authority', `localhost:${h2up.port}`]]],
    ['duplicate :path', [[':method', 'GET'], [':scheme', 'https'], [':path', '/x'], [':path', '/admin/x'], [':authority', `localhost:${h2up.port}`]]],
    ['upper-case header name', [[':method', 'GET'], [':scheme', 'https'], [':path', '/x'], [':authority', `localhost:${h2up.port}`], ['X-Up', '1']]],
    ['unknown pseudo-header', [[':method', 'GET'], [':scheme', 'https'], [':path', '/x'], [':authority', `localhost:${h2up.port}`], [':foo', '1']]],
    ['te other than trailers', [[':method', 'GET'], [':scheme', 'https'], [':path', '/x'], [':authority', `localhost:${h2up.port}`], ['te', 'gzip']]],
  ]
  const seen = h2up.received.length
  for (const [name, fields] of blocks) {
    const tls = await tunnelTls(gate.proxyUrl, 'localhost', h2up.port, ca)
    tls.write(Buffer.concat([PREFACE, frame(4, 0, 0, Buffer.alloc(0)), frame(1, 0x5, 1, hpackBlock(fields))]))
    // Stream 1 ends in a HEADERS answer (a recorded 400) or a RST_STREAM/GOAWAY (framing layer).
    const frames = await readFrames(tls, (fs) => fs.some((f) => (f.stream === 1 && (f.type === 1 || f.type === 3)) || f.type === 7))
    tls.destroy()
    const answer = frames.find((f) => f.stream === 1 && f.type === 1)
    const reset = frames.find((f) => (f.stream === 1 && f.type === 3) || f.type === 7)
    t.ok(answer !== undefined || reset !== undefined, `${name}: refused (${answer ? 'answered' : 'reset'})`)
  }
  t.equal(h2up.received.length, seen, 'none reached the upstream')
  // A field with CR/LF in its value is dropped by nghttp2 before anything reads it: the request
  // is decided and forwarded without it, never with a smuggled line.
  const tls = await tunnelTls(gate.proxyUrl, 'localhost', h2up.port, ca)
  tls.write(Buffer.concat([PREFACE, frame(4, 0, 0, Buffer.alloc(0)), frame(1, 0x5, 1, hpackBlock([[':method', 'GET'], [':scheme', 'https'], [':path', '/crlf'], [':authority', `localhost:${h2up.port}`], ['x-a', 'v\r\nhost: evil']]))]))
  await readFrames(tls, (fs) => fs.some((f) => f.stream === 1 && ((f.type === 0 && (f.flags & 1) === 1) || f.type === 3)))
  tls.destroy()
  for (const r of h2up.received.slice(seen)) {
    t.equal(r.headers['x-a'], undefined, 'the field with CR/LF never arrives')
    t.equal(r.headers.host, `localhost:${h2up.port}`, 'no smuggled Host')
  }
})

t.test('attacker: header lists past the limit are refused (431 recorded) or reset', async (t) => {
  const { session } = await h2Through(gate.proxyUrl, 'localhost', h2up.port, ca)
  t.teardown(() => session.destroy())
  const before = gate.records.length
  const a = await h2Request(session, get(h2up.port, '/x', { 'x-big': 'a'.repeat(MAX_HEADER) }))
  t.equal(a.status, 431)
  t.match(gate.records.slice(before), [{ status: 431 }])
  const huge = await h2Request(session, get(h2up.port, '/x', { 'x-big': 'a'.repeat(MAX_HEADER * 4) }))
  t.ok(huge.reset !== null || huge.status === 431, 'far past the limit: reset or 431')
})

t.test('attacker: concurrent streams are bounded and rapid reset ends the session, not toolgate', async (t) => {
  const { session } = await h2Through(gate.proxyUrl, 'localhost', h2up.port, ca)
  if (session.remoteSettings.maxConcurrentStreams !== 50) await new Promise((resolve) => session.once('remoteSettings', resolve))
  t.equal(session.remoteSettings.maxConcurrentStreams, 50, 'limits.max_h2_streams is announced')
  session.destroy()
  const seen = h2up.received.length
  // Rapid reset (CVE-2023-44487) on the wire: HEADERS then RST_STREAM(CANCEL) for 2000 streams,
  // ignoring the announced concurrency limit, as an attacker's client would.
  const tls = await tunnelTls(gate.proxyUrl, 'localhost', h2up.port, ca)
  const frames: Buffer[] = [PREFACE, frame(4, 0, 0, Buffer.alloc(0))]
  const cancel = Buffer.alloc(4)
  cancel.writeUInt32BE(h2c.NGHTTP2_CANCEL)
  for (let i = 0; i < 2000; i++) {
    const id = 2 * i + 1
    frames.push(frame(1, 0x5, id, hpackBlock([[':method', 'GET'], [':scheme', 'https'], [':path', `/flood/${i}`], [':authority', `localhost:${h2up.port}`]])), frame(3, 0, id, cancel))
  }
  tls.on('error', () => {})
  tls.write(Buffer.concat(frames))
  const got = await readFrames(tls, (fs) => fs.some((f) => f.type === 7), 10_000)
  const ended = got.some((f) => f.type === 7) || tls.destroyed
  tls.destroy()
  t.ok(ended, `toolgate ended the flooding session (GOAWAY or close; ${got.length} frames)`)
  t.ok(h2up.received.length - seen < 2000, `upstream reached ${h2up.received.length - seen} times for 2000 streams`)
  // toolgate still serves a new connection
  const { session: fresh } = await h2Through(gate.proxyUrl, 'localhost', h2up.port, ca)
  t.teardown(() => fresh.destroy())
  t.equal((await h2Request(fresh, get(h2up.port, '/after-flood'))).status, 200)
})

const GRPC_CLIENT = `
const grpc = require(process.argv[1])
const raw = { serialize: (b) => b, deserialize: (b) => b }
const def = (path, responseStream) => ({ path, requestStream: false, responseStream, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize })
const Client = grpc.makeGenericClientConstructor({ unary: def('/test.Echo/Unary', false), stream: def('/test.Echo/Stream', true), forbidden: def('/test.Echo/Forbidden', false) })
const c = new Client(process.argv[2], grpc.credentials.createSsl())
const out = {}
c.unary(Buffer.from('hi'), (err, res) => {
  out.unary = err ? { code: err.code, details: err.details } : res.toString()
  const msgs = []
  const s = c.stream(Buffer.from('st'))
  s.on('data', (m) => msgs.push(m.toString()))
  s.on('error', (e) => { out.stream = { code: e.code, details: e.details } })
  s.on('end', () => {
    out.stream = msgs
    c.forbidden(Buffer.from('x'), (err) => {
      out.forbidden = err ? { code: err.code, details: err.details } : 'allowed'
      console.log(JSON.stringify(out)); process.exit(0)
    })
  })
})
`

function injectorEnv(): Record<string, string> {
  // Only the injector's proxy and CA variables (no_proxy cleared: the test upstream is loopback),
  // plus GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, which gRPC reads for its roots.
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', HTTPS_PROXY: gate.proxyUrl, https_proxy: gate.proxyUrl, HTTP_PROXY: gate.proxyUrl, http_proxy: gate.proxyUrl, NO_PROXY: '', no_proxy: '', SSL_CERT_FILE: caFile, NODE_EXTRA_CA_CERTS: caFile, REQUESTS_CA_BUNDLE: caFile, GRPC_DEFAULT_SSL_ROOTS_FILE_PATH: caFile }
}

t.test('grpc-js client: unary and streaming allowed with the credential; a denied rpc shows PERMISSION_DENIED with the reason', async (t) => {
  const before = gate.records.length
  const keys = grpcUp.keys.length
  const { stdout } = await run(process.execPath, ['-e', GRPC_CLIENT, require_resolve('@grpc/grpc-js'), `localhost:${grpcUp.port}`], { env: injectorEnv() })
  const out = JSON.parse(stdout) as { unary: string; stream: string[]; forbidden: { code: number; details: string } }
  t.equal(out.unary, 'hi|injected')
  t.same(out.stream, ['st#0', 'st#1', 'st#2'])
  t.equal(out.forbidden.code, 7, 'PERMISSION_DENIED')
  t.match(out.forbidden.details, /not for agents.*decision [0-9a-f-]{36}/)
  t.same(grpcUp.keys.slice(keys), [SECRET, SECRET], 'the upstream got the credential on both allowed calls, the denied one never arrived')
  const recs = gate.records.slice(before).filter((r) => r.via === 'intercepted' && r.tool === 'grpc')
  t.equal(recs.length, 3, 'one record per call')
  t.match(recs, [{ decision: 'allow', tool: 'grpc' }, { decision: 'allow', tool: 'grpc' }, { decision: 'deny', tool: 'grpc' }])
  assertNoSecret(t, stdout)
})

t.test('gRPC to an upstream that speaks only HTTP/1.1 fails clearly, with a record', async (t) => {
  const before = gate.records.length
  const code = `const grpc = require(process.argv[1]); const raw = { serialize: (b) => b, deserialize: (b) => b }
const C = grpc.makeGenericClientConstructor({ u: { path: '/x.Y/U', requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize } })
new C(process.argv[2], grpc.credentials.createSsl()).u(Buffer.from('x'), (err) => { console.log(JSON.stringify(err ? { code: err.code, details: err.details } : 'ok')); process.exit(0) })`
  const { stdout } = await run(process.execPath, ['-e', code, require_resolve('@grpc/grpc-js'), `localhost:${grpcOnH1.port}`], { env: injectorEnv() })
  const err = JSON.parse(stdout) as { code: number; details: string }
  t.equal(err.code, 14, 'UNAVAILABLE')
  t.match(err.details, /does not speak HTTP\/2/)
  t.match(gate.records.slice(before).filter((r) => r.type === 'decision' && r.via === 'intercepted'), [{ tool: 'grpch1', failure: { kind: 'upstream_protocol' } }])
})

t.test('grpcio (Python) with only the injector variables', async (t) => {
  const script = `import grpc, json, sys
ch = grpc.secure_channel(sys.argv[1], grpc.ssl_channel_credentials())
unary = ch.unary_unary('/test.Echo/Unary', request_serializer=None, response_deserializer=None)
stream = ch.unary_stream('/test.Echo/Stream', request_serializer=None, response_deserializer=None)
forbidden = ch.unary_unary('/test.Echo/Forbidden', request_serializer=None, response_deserializer=None)
out = {"unary": unary(b"py", timeout=10).decode(), "stream": [m.decode() for m in stream(b"ps", timeout=10)]}
try:
    forbidden(b"x", timeout=10); out["forbidden"] = "allowed"
except grpc.RpcError as e:
    out["forbidden"] = {"code": e.code().name, "details": e.details()}
print(json.dumps(out))`
  const keys = grpcUp.keys.length
  const { stdout } = await run('python3', ['-c', script, `localhost:${grpcUp.port}`], { env: injectorEnv() })
  const out = JSON.parse(stdout) as { unary: string; stream: string[]; forbidden: { code: string; details: string } }
  t.equal(out.unary, 'py|injected')
  t.same(out.stream, ['ps#0', 'ps#1', 'ps#2'])
  t.equal(out.forbidden.code, 'PERMISSION_DENIED')
  t.match(out.forbidden.details, /not for agents/)
  t.same(grpcUp.keys.slice(keys), [SECRET, SECRET])
  assertNoSecret(t, stdout)
})

function require_resolve(name: string): string {
  return join(process.cwd(), 'node_modules', name)
}

t.test('h2c prior knowledge on the proxy listener is refused and recorded', async (t) => {
  const before = gate.records.length
  const r = await run('curl', ['-sS', '-o', '-', '-w', '\n%{http_code} %{http_version}', '--http2-prior-knowledge', `${gate.proxyUrl}/t/h2api/x`]).catch((e: { stdout?: string; stderr?: string; code?: number }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '', code: e.code }))
  t.notMatch(r.stdout, /"httpVersion"/, 'nothing forwarded')
  const recs = gate.records.slice(before).filter((x) => x.type === 'decision')
  t.equal(recs.length, 1, 'one record for the connection')
  t.match(recs[0], { decision: 'deny', status: 400, reasons: [/prior knowledge \(h2c\) is not accepted/] })
})
