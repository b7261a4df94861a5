// Red team of the CONNECT-to-http work (issue 17): a hostile agent on the pod's loopback opens
// tunnels to an http tool and speaks to the real toolgate with raw sockets. What must hold: every
// request inside a tunnel is decided with the tunnel's authority (no Host spelling reaches the
// upstream as anything but the canonical authority), no framing trick makes the upstream see a
// request that was not decided, every refusal is recorded (one record per request, one for the
// tunnel), and a client that trickles header bytes inside a tunnel is cut at the header deadline
// like on the listener itself. Real toolgate, real upstream, real sockets; nothing mocked.
import t from 'tap'
import { writeFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { once } from 'node:events'
import fc from 'fast-check'
import { startUpstream, type Upstream } from '../helpers/upstream.ts'
import { startInterceptingGate, type InterceptingGate } from './helpers/gate.ts'
import { HEADER_CHECK_INTERVAL_MS } from '../../proxy/src/listen/agent-http-server.ts'
import { lenientAdminPath } from '../helpers/path-variants.ts'

const SECRET = 'tg-redteam-secret-5b2e71'
const HEADERS_MS = 400

let web: Upstream
let gate: InterceptingGate
let proxyPort: number
let authority: string

t.before(async () => {
  web = await startUpstream()
  gate = await startInterceptingGate((dir) => {
    writeFileSync(join(dir, 'api.secret'), SECRET + '\n', { mode: 0o600 })
    return `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
logging: { level: error }
timeouts: { client_headers_ms: ${HEADERS_MS}, idle_ms: 30000 }
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
  - name: secure
    match: { scheme: https, host: localhost, port: ${web.port} }
    allow_addresses: [127.0.0.1/32]
    routes:
      - { methods: [GET], path: "/**" }
`
  })
  proxyPort = Number(new URL(gate.proxyUrl).port)
  authority = `127.0.0.1:${web.port}`
})
t.teardown(async () => {
  await gate?.close()
  await web?.close()
})

type Rec = Record<string, unknown> & { via?: string; decision?: string; status?: number; reasons?: string[]; tunnel_id?: string; id?: string }

/** Opens a CONNECT tunnel by hand; resolves with the socket once the 200 has been read. */
async function openTunnel(target = authority): Promise<Socket> {
  const sock = netConnect(proxyPort, '127.0.0.1')
  sock.on('error', () => {})
  await once(sock, 'connect')
  sock.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`)
  const [first] = (await once(sock, 'data')) as [Buffer]
  if (!first.toString('latin1').startsWith('HTTP/1.1 200')) throw new Error(`CONNECT refused: ${first.toString('latin1')}`)
  return sock
}

/** Complete responses (status + body) in `text`; each of toolgate's and the upstream's has a Content-Length. */
function responses(text: string): { status: number; body: string }[] {
  const out: { status: number; body: string }[] = []
  let rest = text
  for (;;) {
    const sep = rest.indexOf('\r\n\r\n')
    if (sep === -1) return out
    const head = rest.slice(0, sep)
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0)
    if (status === 100) { rest = rest.slice(sep + 4); continue }
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? -1)
    if (len < 0 || rest.length - sep - 4 < len) return out
    out.push({ status, body: rest.slice(sep + 4, sep + 4 + len) })
    rest = rest.slice(sep + 4 + len)
  }
}

/** Sends `payload` in a fresh tunnel; resolves when `n` responses arrived or the tunnel closed. */
async function exchange(payload: string | Buffer, n: number): Promise<{ answers: { status: number; body: string }[]; closed: boolean }> {
  const sock = await openTunnel()
  const chunks: Buffer[] = []
  let closed = false
  const done = new Promise<void>((resolve) => {
    sock.on('data', (c: Buffer) => {
      chunks.push(c)
      if (responses(Buffer.concat(chunks).toString('latin1')).length >= n) resolve()
    })
    sock.on('close', () => { closed = true; resolve() })
  })
  sock.write(payload)
  await Promise.race([done, new Promise((_r, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000).unref())])
  sock.destroy()
  return { answers: responses(Buffer.concat(chunks).toString('latin1')), closed }
}

/** Records written from index `from` on, once `count` of them are there (records are written after the answer). */
async function recordsFrom(from: number, count: number): Promise<Rec[]> {
  const deadline = Date.now() + 5000
  while (gate.records.length - from < count && Date.now() < deadline) await new Promise((r) => setImmediate(r))
  return gate.records.slice(from) as Rec[]
}

t.test('HTTP/1.1 without Host: refused with a reason AND recorded (Node answered a bare, unrecorded 400 before)', async (t) => {
  const from = gate.records.length
  const before = web.received.length
  const { answers } = await exchange('GET /echo HTTP/1.1\r\n\r\n', 1)
  t.equal(answers[0]?.status, 400)
  t.match(answers[0]?.body, /Host header is required in HTTP\/1\.1/)
  const recs = await recordsFrom(from, 2)
  const inner = recs.find((r) => r.via === 'intercepted')
  t.ok(inner, 'the refused request in the tunnel has its record')
  t.equal(inner?.status, 400)
  t.same(inner?.reasons, ['Host header is required in HTTP/1.1'])
  t.equal(web.received.length, before, 'nothing reached the upstream')

  // The forward listener: same rule, same record.
  const s = netConnect(proxyPort, '127.0.0.1')
  await once(s, 'connect')
  const from2 = gate.records.length
  s.write(`GET http://${authority}/echo HTTP/1.1\r\n\r\n`)
  const [d] = (await once(s, 'data')) as [Buffer]
  s.destroy()
  t.match(d.toString('latin1'), /^HTTP\/1\.1 400 /)
  const fwd = (await recordsFrom(from2, 1)).find((r) => r.via === 'forward')
  t.same(fwd?.reasons, ['Host header is required in HTTP/1.1'])
})

t.test('HTTP/1.0 without Host inside a tunnel goes to the tunnel authority, with the canonical Host upstream', async (t) => {
  const before = web.received.length
  const { answers } = await exchange('GET /echo?v10 HTTP/1.0\r\n\r\n', 1)
  t.equal(answers[0]?.status, 200)
  const got = web.received.slice(before)
  t.equal(got.length, 1)
  t.equal(got[0]?.headers.host, authority)
  t.equal(got[0]?.headers['x-api-key'], SECRET, 'the credential was injected for the decided call')
})

// Host spellings an attacker tries: each is either refused (400, recorded) or, when it names the
// same authority, forwarded with the one canonical Host; never anything else.
const hostVariants = fc.oneof(
  fc.constantFrom(
    authority0(), 'evil.example', 'evil.example:80', '127.0.0.1', '127.0.0.1:80', '127.0.0.2:PORT',
    '127.0.0.1.:PORT', '127.1:PORT', '0177.0.0.1:PORT', '0x7f.0.0.1:PORT', '2130706433:PORT',
    '[::ffff:127.0.0.1]:PORT', '[::1]:PORT', 'u@127.0.0.1:PORT', '127.0.0.%31:PORT', '127.0.0.1:0PORT',
    '127.0.0.1:PORT, evil', '127.0.0.1:PORT/x', '127.0.0.1:PORT?', 'LOCALHOST:PORT', '127.0.0.1:+PORT', ':PORT', '',
  ),
  fc.tuple(fc.constantFrom('127.0.0.1', 'localhost', '127.0.0.1.'), fc.constantFrom(':PORT', ':80', '', ':65536', ':PORTx'), fc.constantFrom('', ' ', '\t')).map(([h, p, ws]) => `${ws}${h}${p}${ws}`),
)
function authority0(): string { return '127.0.0.1:PORT' }

t.test('property: no Host spelling reaches the upstream as anything but the tunnel authority; one record per request', async (t) => {
  await fc.assert(fc.asyncProperty(hostVariants, fc.boolean(), async (spelling, absolute) => {
    const host = spelling.replaceAll('PORT', String(web.port))
    const target = absolute ? `http://${host.trim()}/echo` : '/echo'
    const before = web.received.length
    const from = gate.records.length
    const { answers } = await exchange(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 1)
    const recs = await recordsFrom(from, 2)
    const inner = recs.filter((r) => r.via === 'intercepted')
    // A parse error answered by Node (an invalid header value or target) is recorded too.
    if (inner.length !== 1) throw new Error(`expected one record for the request, got ${inner.length}: ${JSON.stringify(recs)}`)
    const got = web.received.slice(before)
    if (answers[0]?.status === 200) {
      if (got.length !== 1 || got[0]!.headers.host !== authority) throw new Error(`forwarded with Host ${String(got[0]?.headers.host)} for ${JSON.stringify(host)}`)
    } else if (got.length !== 0) {
      throw new Error(`refused (${answers[0]?.status}) but the upstream saw ${JSON.stringify(got)}`)
    }
  }), { numRuns: 60 })
  t.pass('held for every spelling tried')
})

t.test('framing tricks inside a tunnel never make the upstream see an undecided request', async (t) => {
  const inBody = `GET /admin/y HTTP/1.1\r\nHost: ${authority}\r\n\r\n`
  const cases: { name: string; payload: string; n: number }[] = [
    { name: 'CL.TE', payload: `POST /echo HTTP/1.1\r\nHost: ${authority}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin/x HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, n: 1 },
    { name: 'TE obfuscated', payload: `POST /echo HTTP/1.1\r\nHost: ${authority}\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\nGET /admin/x HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, n: 1 },
    { name: 'TE with space before colon', payload: `POST /echo HTTP/1.1\r\nHost: ${authority}\r\nTransfer-Encoding : chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\nGET /admin/x HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, n: 1 },
    { name: 'bare LF', payload: `GET /echo HTTP/1.1\nHost: ${authority}\n\nGET /admin/x HTTP/1.1\nHost: ${authority}\n\n`, n: 1 },
    { name: 'obs-fold', payload: `GET /echo HTTP/1.1\r\nHost: ${authority}\r\nX-A: b\r\n GET /admin/x\r\n\r\n`, n: 1 },
    { name: 'request smuggled in a body', payload: `POST /echo HTTP/1.1\r\nHost: ${authority}\r\nContent-Length: 37\r\n\r\nGET /admin/x HTTP/1.1\r\nHost: evil\r\n\r\n`, n: 1 },
    { name: 'refused request then pipelined ones', payload: `GET /echo HTTP/1.1\r\nHost: evil:1\r\nContent-Length: ${Buffer.byteLength(inBody)}\r\n\r\n${inBody}GET /admin/x HTTP/1.1\r\nHost: ${authority}\r\n\r\nGET /echo?third HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, n: 3 },
  ]
  for (const c of cases) {
    const before = web.received.length
    await exchange(c.payload, c.n)
    const got = web.received.slice(before)
    t.notOk(got.some((r) => r.url.includes('admin')), `${c.name}: no /admin request reached the upstream`)
    t.ok(got.every((r) => r.headers.host === authority), `${c.name}: every forwarded request has the canonical Host`)
  }
})

/** The path a lenient framework would route `url` to (decodes repeatedly, drops ";" parameters, trailing dots/spaces, case). */
function lenientPath(url: string): string {
  let path = url.split('?')[0]!
  for (let i = 0; i < 3; i++) { try { path = decodeURIComponent(path) } catch { break } }
  const out: string[] = []
  for (const raw of path.split('/')) {
    const seg = raw.split(';')[0]!.replace(/[. ]+$/, '')
    if (raw === '..') out.pop()
    else if (seg !== '' && raw !== '.') out.push(seg)
  }
  return '/' + out.join('/').toLowerCase()
}

t.test('property: inside a plain tunnel (pipelined behind an allowed request), no lenient spelling of /admin/** reaches the upstream as /admin', async (t) => {
  await fc.assert(fc.asyncProperty(
    lenientAdminPath,
    async (raw) => {
      const before = web.received.length
      await exchange(`GET /echo HTTP/1.1\r\nHost: ${authority}\r\n\r\nGET ${raw} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, 2)
      return web.received.slice(before).every((r) => { const p = lenientPath(r.url); return p !== '/admin' && !p.startsWith('/admin/') })
    },
  ), { numRuns: 80 })
  t.equal(lenientPath('/x/../ADMIN;p/%252e/y.'), '/admin/y', 'the oracle itself reads a lenient spelling as /admin (so the property can fail)')
})

t.test('an absolute https:// target inside a plain-http tunnel: the reason names both schemes', async (t) => {
  const { answers } = await exchange(`GET https://${authority}/echo HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, 1)
  t.equal(answers[0]?.status, 400)
  t.match(answers[0]?.body, `https://${authority}) disagrees with the tunnel it was sent in (http://${authority})`)
})

t.test('Upgrade offers inside a tunnel are treated as on the proxy listener: h2c dropped, WebSocket decided as an upgrade', async (t) => {
  const before = web.received.length
  const h2c = await exchange(`GET /echo?h2c HTTP/1.1\r\nHost: ${authority}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`, 1)
  t.equal(h2c.answers[0]?.status, 200, 'curl --http2 to an http:// URL through the tunnel is served as HTTP/1.1')
  const got = web.received.slice(before)
  t.equal(got.length, 1)
  t.notOk(got[0]?.headers.upgrade ?? got[0]?.headers['http2-settings'], 'the offer never reaches the upstream')
  t.equal(got[0]?.headers['x-api-key'], SECRET, 'decided and credentialed like any request')
  const withBody = await exchange(`POST /echo HTTP/1.1\r\nHost: ${authority}\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nhi`, 1)
  t.equal(withBody.answers[0]?.status, 400, 'an offer with a body is refused')
  const ws = await exchange(`GET /echo HTTP/1.1\r\nHost: ${authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`, 1)
  t.equal(ws.answers[0]?.status, 403, 'a WebSocket upgrade the route does not allow is denied')
  t.match(ws.answers[0]?.body, /protocol upgrade is not allowed on this route/)
})

/** Trickles header lines into `sock` until it closes; resolves with the time it stayed open and what came back. */
async function trickle(sock: { write(s: string): unknown; on(e: string, f: (...a: never[]) => void): unknown; destroyed: boolean }, first: string): Promise<{ ms: number; text: string }> {
  const chunks: Buffer[] = []
  let closed = false
  sock.on('data', (c: Buffer) => chunks.push(c))
  sock.on('close', () => { closed = true })
  const t0 = Date.now()
  sock.write(first)
  // One header line per 100 ms: every byte resets the idle timer, so only a header deadline cuts it.
  const bound = HEADERS_MS + HEADER_CHECK_INTERVAL_MS * 2 + 2000
  while (!closed && !sock.destroyed && Date.now() - t0 < bound) {
    await new Promise((r) => setTimeout(r, 100))
    if (!closed && !sock.destroyed) sock.write('X-Slow: a\r\n')
  }
  return { ms: Date.now() - t0, text: Buffer.concat(chunks).toString('latin1') }
}

t.test('a client trickling header bytes inside a plain tunnel is cut at the header deadline, with a 408 record', async (t) => {
  const sock = await openTunnel()
  const from = gate.records.length
  const { ms, text } = await trickle(sock, `GET /echo HTTP/1.1\r\nHost: ${authority}\r\n`)
  sock.destroy()
  t.ok(ms < HEADERS_MS + HEADER_CHECK_INTERVAL_MS * 2 + 1000, `cut after ${ms} ms`)
  t.match(text, /^HTTP\/1\.1 408 /)
  const rec = (await recordsFrom(from, 1)).find((r) => r.via === 'intercepted')
  t.equal(rec?.status, 408)
})

t.test('the same inside a TLS-intercepted tunnel', async (t) => {
  const raw = netConnect(proxyPort, '127.0.0.1')
  raw.on('error', () => {})
  await once(raw, 'connect')
  raw.write(`CONNECT localhost:${web.port} HTTP/1.1\r\nHost: localhost:${web.port}\r\n\r\n`)
  await once(raw, 'data')
  const ca = readFileSync(join(gate.dir, 'shared', 'toolgate-ca.pem'), 'utf8')
  const tls = tlsConnect({ socket: raw, servername: 'localhost', ca })
  tls.on('error', () => {})
  await once(tls, 'secureConnect')
  const from = gate.records.length
  const { ms, text } = await trickle(tls, `GET /echo HTTP/1.1\r\nHost: localhost:${web.port}\r\n`)
  tls.destroy()
  t.ok(ms < HEADERS_MS + HEADER_CHECK_INTERVAL_MS * 2 + 1000, `cut after ${ms} ms`)
  t.match(text, /^HTTP\/1\.1 408 /)
  const rec = (await recordsFrom(from, 1)).find((r) => r.via === 'intercepted')
  t.equal(rec?.status, 408)
})

t.test('the secret is in no record and no log line', async (t) => {
  t.notMatch(JSON.stringify(gate.records), SECRET)
  t.notMatch(gate.logs.join('\n'), SECRET)
})
