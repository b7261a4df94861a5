// Requests crafted to make toolgate decide on one view and forward another. Each must be refused
// (or decided on the canonical form) and nothing may reach the upstream. Raw sockets, because no
// well-behaved client sends these.
import t from 'tap'
import { startUpstream, type Upstream } from '../helpers/upstream.ts'
import { startTestToolgate, testListeners, type TestToolgate } from '../helpers/toolgate.ts'
import { rawRequest } from '../helpers/raw.ts'

let up: Upstream
let gate: TestToolgate
let proxyPort: number

t.before(async () => {
  up = await startUpstream()
  gate = await startTestToolgate(`version: 1
${testListeners}
limits: { max_header_bytes: 4096 }
tools:
  - name: echo
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    routes:
      - { methods: [GET, POST], path: "/**", access: read }
    deny:
      - { path: "/admin/**", reason: "admin is off limits" }
  - name: byname
    match: { scheme: http, host: localhost, port: ${up.port} }
    routes:
      - { path: "/**" }
`)
  proxyPort = Number(new URL(gate.proxyUrl).port)
})
t.teardown(async () => {
  await gate.close()
  await up.close()
})

const P = () => up.port
const refusals: Array<[string, () => string, number | number[]]> = [
  ['duplicate Host', () => `GET http://127.0.0.1:${P()}/x HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\nHost: evil.example\r\n\r\n`, 400],
  ['Host disagrees with the absolute URI', () => `GET http://127.0.0.1:${P()}/x HTTP/1.1\r\nHost: evil.example\r\n\r\n`, 400],
  ['userinfo in the target', () => `GET http://user:pw@127.0.0.1:${P()}/x HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\n\r\n`, 400],
  ['allowed host as userinfo of another host', () => `GET http://127.0.0.1:${P()}@evil.example/x HTTP/1.1\r\nHost: evil.example\r\n\r\n`, 400],
  ['integer IPv4', () => `GET http://2130706433:${P()}/x HTTP/1.1\r\nHost: 2130706433:${P()}\r\n\r\n`, 400],
  ['hex IPv4', () => `GET http://0x7f.0.0.1:${P()}/x HTTP/1.1\r\nHost: 0x7f.0.0.1:${P()}\r\n\r\n`, 400],
  ['octal IPv4', () => `GET http://0177.0.0.1:${P()}/x HTTP/1.1\r\nHost: 0177.0.0.1:${P()}\r\n\r\n`, 400],
  ['short IPv4', () => `GET http://127.1:${P()}/x HTTP/1.1\r\nHost: 127.1:${P()}\r\n\r\n`, 400],
  ['encoded slash', () => `GET http://127.0.0.1:${P()}/admin%2fusers HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\n\r\n`, 400],
  ['encoded dot segment', () => `GET http://127.0.0.1:${P()}/x/%2e%2e/admin/users HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\n\r\n`, 400],
  ['encoded backslash', () => `GET http://127.0.0.1:${P()}/x%5c..%5cadmin HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\n\r\n`, 400],
  ['encoded NUL', () => `GET http://127.0.0.1:${P()}/x%00 HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\n\r\n`, 400],
  ['overlong UTF-8 slash', () => `GET http://127.0.0.1:${P()}/x%c0%afadmin HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\n\r\n`, 400],
  ['Content-Length with Transfer-Encoding', () => `POST http://127.0.0.1:${P()}/x HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['two different Content-Length', () => `POST http://127.0.0.1:${P()}/x HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde`, 400],
  ['Transfer-Encoding other than chunked', () => `POST http://127.0.0.1:${P()}/x HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\nTransfer-Encoding: gzip\r\n\r\n`, [400, 501]],
  ['obsolete header folding', () => `GET http://127.0.0.1:${P()}/x HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\nX-A: a\r\n b\r\n\r\n`, 400],
  ['oversized headers', () => `GET http://127.0.0.1:${P()}/x HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`, 431],
  ['origin-form request that is not a route prefix', () => `GET /x HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\n\r\n`, 400],
]

t.test('ambiguous or malformed requests are refused and never forwarded', async (t) => {
  for (const [name, bytes, expected] of refusals) {
    const before = up.received.length
    const res = await rawRequest(proxyPort, bytes())
    const allowed = Array.isArray(expected) ? expected : [expected]
    t.ok(allowed.includes(res.status), `${name}: status ${res.status} in ${allowed.join('/')}`)
    t.equal(up.received.length, before, `${name}: nothing reached the upstream`)
  }
})

t.test('dot segments are resolved before the decision, so a deny rule cannot be walked around', async (t) => {
  const before = up.received.length
  const res = await rawRequest(proxyPort, `GET http://127.0.0.1:${P()}/public/../admin/users HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\n\r\n`)
  t.equal(res.status, 403)
  t.match(res.body, /admin is off limits/)
  t.equal(up.received.length, before)
})

t.test('trailing dot and upper case name the same host, and the destination check still applies', async (t) => {
  const res = await rawRequest(proxyPort, `GET http://LOCALHOST.:${P()}/x HTTP/1.1\r\nHost: LOCALHOST.:${P()}\r\n\r\n`)
  t.equal(res.status, 403, 'matched tool byname, then refused: localhost resolves to loopback, which the tool does not name')
  const rec = gate.records.at(-1) as Record<string, any>
  t.equal(rec.tool, 'byname')
  t.equal(rec.host, 'localhost')
  t.equal(rec.stage, 'destination')
})

t.test('each request on a keep-alive connection is decided on its own', async (t) => {
  const before = up.received.length
  const res = await rawRequest(proxyPort,
    `GET http://127.0.0.1:${P()}/one HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\n\r\n` +
    `GET http://127.0.0.1:${P()}/admin/x HTTP/1.1\r\nHost: 127.0.0.1:${P()}\r\nConnection: close\r\n\r\n`, 3000, true)
  const statuses = [...res.raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]))
  t.same(statuses, [200, 403])
  t.equal(up.received.length, before + 1)
})
