// Issue 14 attacks 3 (TRACE), 4-5 (deny rules walked around) end to end, 6 (override hints) and
// 8 (transparent listener absolute form), against a real toolgate and a real upstream that
// behaves like the lenient frameworks: it routes case-insensitively, drops ";" parameters, strips
// trailing dots/spaces, decodes twice and honours method/path override hints. The test asserts
// what that upstream received (or that it received nothing).
import t from 'tap'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startTestToolgate, type TestToolgate, testListenersYaml } from '../helpers/toolgate.ts'
import { rawRequest } from '../helpers/raw.ts'
import fc from 'fast-check'
import { lenientAdminPath } from '../helpers/path-variants.ts'
import { listenOnLoopback } from '../helpers/upstream.ts'

/** What a lenient framework would route a request to. */
function lenientRoute(req: IncomingMessage): { method: string; path: string } {
  const u = new URL(req.url ?? '/', 'http://x')
  const overridePath = req.headers['x-original-url'] ?? req.headers['x-rewrite-url'] ?? req.headers['x-original-uri']
  let path = typeof overridePath === 'string' ? overridePath : u.pathname
  const prefix = req.headers['x-forwarded-prefix']
  if (typeof prefix === 'string') path = prefix + path
  for (let i = 0; i < 3; i++) { try { path = decodeURIComponent(path) } catch { break } }
  // Dot segments resolved after decoding (as a double-decoding server does), then ";" parameters
  // dropped, trailing dots/spaces stripped, empty segments merged.
  const out: string[] = []
  for (const raw of path.split('/')) {
    const seg = raw.split(';')[0]!
    if (seg === '..') out.pop()
    else if (seg === '.') continue
    else {
      const s = seg.replace(/[. ]+$/, '')
      if (s !== '') out.push(s)
    }
  }
  path = out.join('/')
  const m = req.headers['x-http-method-override'] ?? req.headers['x-http-method'] ?? req.headers['x-method-override'] ?? u.searchParams.get('_method')
  return { method: String(m ?? req.method).toUpperCase(), path: '/' + path.toLowerCase() }
}

let gate: TestToolgate
let upstream: Server
const received: Array<{ raw: IncomingMessage; routed: { method: string; path: string } }> = []

t.before(async () => {
  upstream = createServer((req, res) => {
    received.push({ raw: req, routed: lenientRoute(req) })
    req.resume()
    const body = JSON.stringify({ url: req.url })
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  })
  const { port } = await listenOnLoopback(upstream)
  gate = await startTestToolgate(`version: 1
${testListenersYaml({ transparent: 'http' })}tools:
  - name: app
    match: { scheme: http, host: 127.0.0.1, port: ${port} }
    routes:
      - { path: "/**", methods: [GET, HEAD, POST] }
    deny:
      - { path: "/admin/**" }
      - { path: "/items/{id}", methods: [DELETE] }
  - name: rep
    mode: report
    match: { scheme: http, host: localhost, port: ${port} }
    allow_addresses: [127.0.0.1/32]
    deny:
      - { path: "/admin/**" }
  - name: local
    match: { scheme: http, host: localhost, port: 80 }
    allow_addresses: [127.0.0.1/32]
  - name: localtls
    match: { scheme: https, host: localhost, port: 443 }
    allow_addresses: [127.0.0.1/32]
`)
})
t.teardown(async () => {
  await gate.close()
  upstream.closeAllConnections()
  upstream.close()
})

function send(method: string, path: string, headers = ''): Promise<import('../helpers/raw.ts').RawResponse> {
  const port = Number(new URL(gate.proxyUrl).port)
  return rawRequest(port, `${method} /t/app${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n${headers}\r\n`)
}

t.test('variants of a denied path never reach the lenient upstream', async (t) => {
  for (const path of ['/ADMIN/secret', '/admin;jsessionid=1/secret', '/admin;/secret', '/admin./secret', '/admin%20/secret', '/public/%252e%252e/admin/secret', '/%2561dmin/secret']) {
    const before = received.length
    const res = await send('GET', path)
    t.ok(res.status === 403 || res.status === 400, `${path}: ${res.status}`)
    t.equal(received.length, before, `${path} was not forwarded`)
  }
  const res = await send('GET', '/public/page')
  t.equal(res.status, 200, 'an ordinary path passes')
  t.equal(received.at(-1)!.routed.path, '/public/page')
})

t.test('property, end to end: no lenient spelling of /admin/** reaches the lenient upstream as /admin', async (t) => {
  let forwarded = 0
  await fc.assert(fc.asyncProperty(
    lenientAdminPath,
    async (raw) => {
      const before = received.length
      await send('GET', raw)
      forwarded += received.length - before
      return received.slice(before).every((r) => r.routed.path !== '/admin' && !r.routed.path.startsWith('/admin/'))
    },
  ), { numRuns: 300 })
  t.equal(forwarded, 0, 'none of them was forwarded at all')
})

t.test('override hints are removed: the upstream routes on what was decided', async (t) => {
  const hints = 'X-HTTP-Method-Override: DELETE\r\nX-HTTP-Method: DELETE\r\nX-Method-Override: DELETE\r\nX-Original-URL: /admin/secret\r\nX-Rewrite-URL: /admin/secret\r\nX-Original-URI: /admin/secret\r\nX-Forwarded-Prefix: /admin\r\n'
  const res = await send('GET', '/items/7?_method=DELETE&keep=1&%5Fmethod=DELETE&_METHOD=DELETE', hints)
  t.equal(res.status, 200)
  const got = received.at(-1)!
  t.same(got.routed, { method: 'GET', path: '/items/7' }, 'the lenient upstream routes GET /items/7, as decided')
  t.equal(got.raw.url, '/items/7?keep=1', 'only the override parameters are dropped from the query')
  for (const h of ['x-http-method-override', 'x-http-method', 'x-method-override', 'x-original-url', 'x-rewrite-url', 'x-original-uri', 'x-forwarded-prefix']) {
    t.notOk(got.raw.headers[h], `${h} not forwarded`)
  }
  const rec = gate.records.at(-1) as Record<string, any>
  t.equal(rec.query, 'keep=_', 'the record shows the query that was forwarded')
})

t.test('report mode does not let an ambiguous path through: it is a parse refusal', async (t) => {
  const port = Number(new URL(gate.proxyUrl).port)
  const before = received.length
  const res = await rawRequest(port, `GET /t/rep/public/%252e%252e/admin/x HTTP/1.1\r\nHost: x\r\n\r\n`)
  t.equal(res.status, 400)
  t.match(res.body, /ambiguous path/)
  t.equal(received.length, before, 'not forwarded')
})

t.test('TRACE is refused on a tool without a route naming it', async (t) => {
  const before = received.length
  const port = Number(new URL(gate.proxyUrl).port)
  const res = await rawRequest(port, `TRACE http://localhost/ HTTP/1.1\r\nHost: localhost\r\n\r\n`)
  t.equal(res.status, 403)
  t.match(res.body, /TRACE/)
  t.equal(received.length, before)
})

t.test('transparent HTTP listener: absolute form naming https or another port is refused, with or without Host', async (t) => {
  const port = Number(new URL(gate.tg.transparent.http!).port)
  for (const [target, host] of [['https://localhost/', ''], ['http://localhost:8080/', ''], ['https://localhost/', 'Host: localhost\r\n'], ['http://127.0.0.1:' + (upstream.address() as AddressInfo).port + '/x', '']] as const) {
    const before = received.length
    const res = await rawRequest(port, `GET ${target} HTTP/1.0\r\n${host}\r\n`)
    t.equal(res.status, 400, `${target} ${host ? 'with' : 'without'} Host: ${res.body}`)
    t.equal(received.length, before, 'nothing forwarded')
  }
})
