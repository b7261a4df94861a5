// WebSocket upgrades: refused unless the route allows them; when allowed, relayed through
// http-proxy with only the decided headers (hop-by-hop and agent-only headers never arrive).
import t from 'tap'
import { createServer, type IncomingMessage } from 'node:http'
import { connect } from 'node:net'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { startTestToolgate, testListeners, type TestToolgate } from '../helpers/toolgate.ts'
import { listenOnLoopback } from '../helpers/upstream.ts'

let gate: TestToolgate
const seen: IncomingMessage[] = []
const upstream = createServer((_req, res) => { res.writeHead(426); res.end() })
upstream.on('upgrade', (req, socket) => {
  seen.push(req)
  const accept = createHash('sha1').update(String(req.headers['sec-websocket-key']) + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
  socket.pipe(socket) // echo: the relay is what is under test, not WebSocket framing
})

t.before(async () => {
  const { port } = await listenOnLoopback(upstream)
  gate = await startTestToolgate(`version: 1
${testListeners}
tools:
  - name: ws
    match: { scheme: http, host: 127.0.0.1, port: ${port} }
    routes:
      - { path: "/chat", upgrade: true }
      - { path: "/plain" }
`)
})
t.teardown(async () => {
  await gate.close()
  upstream.closeAllConnections()
  upstream.close()
})

function handshake(path: string, extra = ''): Promise<{ head: string; socket: import('node:net').Socket }> {
  const port = Number(new URL(gate.proxyUrl).port)
  const socket = connect(port, '127.0.0.1')
  socket.write(`GET /t/ws${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade, X-Hop-Secret\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Hop-Secret: hop\r\nProxy-Authorization: Basic c2VjcmV0\r\n${extra}\r\n`)
  return new Promise((resolve, reject) => {
    let buf = ''
    socket.on('data', function onData(c: Buffer) {
      buf += c.toString('latin1')
      const end = buf.indexOf('\r\n\r\n')
      if (end !== -1) {
        socket.off('data', onData)
        resolve({ head: buf.slice(0, end), socket })
      }
    })
    socket.on('error', reject)
  })
}

t.test('an upgrade on a route that allows it is relayed with the decided headers only', async (t) => {
  const { head, socket } = await handshake('/chat')
  t.match(head, /^HTTP\/1\.1 101/)
  const got = once(socket, 'data')
  socket.write('ping')
  t.equal(String((await got)[0]), 'ping', 'bytes flow both ways')
  socket.destroy()
  const req = seen.at(-1)!
  t.equal(req.url, '/chat')
  t.equal(req.headers.upgrade, 'websocket')
  t.notOk(req.headers['x-hop-secret'], 'header named in Connection does not reach the upstream')
  t.notOk(req.headers['proxy-authorization'])
  t.notOk(req.headers['toolgate-task'])
  t.notOk(req.headers['x-forwarded-for'], 'no X-Forwarded-* added')
  const rec = gate.records.find((r) => r['path'] === '/chat') as Record<string, any>
  t.equal(rec.decision, 'allow')
  t.equal(rec.status, 101)
})

t.test('an upgrade on a route without upgrade: true is refused', async (t) => {
  const before = seen.length
  const { head, socket } = await handshake('/plain')
  socket.destroy()
  t.match(head, /^HTTP\/1\.1 403/)
  t.equal(seen.length, before)
  const rec = gate.records.find((r) => r['path'] === '/plain') as Record<string, any>
  t.equal(rec.decision, 'deny')
  t.match(rec.reasons[0], /upgrade is not allowed/)
})

t.test('an h2c upgrade offer is dropped and the request served as HTTP/1.1', async (t) => {
  const port = Number(new URL(gate.proxyUrl).port)
  const { rawRequest } = await import('../helpers/raw.ts')
  const res = await rawRequest(port, `GET /t/ws/plain HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`, 3000, true)
  t.equal(res.status, 426, 'the upstream answered the plain request (its 426 means it saw no upgrade)')
  const rec = gate.records.filter((r) => r['path'] === '/plain').at(-1) as Record<string, any>
  t.equal(rec.decision, 'allow')
})
