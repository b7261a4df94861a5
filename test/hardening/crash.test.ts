// Attack 1 and 2 of issue 14, against a real toolgate process: a client that offers an upgrade
// (h2c or websocket, allowed or denied path) and then resets the connection must not end the
// process; an open WebSocket must not keep a SIGTERM'd process alive, and an idle one is closed.
import t from 'tap'
import { createServer, type Server } from 'node:http'
import { connect, type Socket, type AddressInfo } from 'node:net'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { spawnToolgate, type ToolgateProcess } from '../helpers/process.ts'
import { rawRequest } from '../helpers/raw.ts'
import { listenOnLoopback } from '../helpers/upstream.ts'

export function wsUpstream(): Server {
  const upstream = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('plain') })
  upstream.on('upgrade', (req, socket) => {
    socket.on('error', () => socket.destroy())
    const accept = createHash('sha1').update(String(req.headers['sec-websocket-key']) + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
    socket.pipe(socket)
  })
  return upstream
}

export function gateConfig(upstreamPort: number, extra = ''): string {
  return `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
  transparent_http: { host: 127.0.0.1, port: 0 }
logging: { level: info, records: /dev/null }
${extra}
tools:
  - name: ws
    match: { scheme: http, host: 127.0.0.1, port: ${upstreamPort} }
    routes:
      - { path: "/chat", upgrade: true }
      - { path: "/plain" }
    deny:
      - { path: "/denied/**" }
`
}

export function upgradeRequest(port: number, path: string, protocol: 'websocket' | 'h2c', host = `127.0.0.1:${port}`): string {
  const extra = protocol === 'websocket'
    ? 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
    : 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n'
  return `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade${protocol === 'h2c' ? ', HTTP2-Settings' : ''}\r\nUpgrade: ${protocol}\r\n${extra}\r\n`
}

/** Writes bytes, waits a moment (or for the first answer bytes), then resets the connection (RST). */
export function sendThenReset(port: number, bytes: string, waitFor: 'nothing' | 'answer' = 'nothing'): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, '127.0.0.1')
    s.on('error', () => {})
    s.on('close', () => resolve())
    const reset = (): void => { if (!s.destroyed) s.resetAndDestroy() }
    s.once('connect', () => {
      s.write(bytes)
      if (waitFor === 'nothing') setImmediate(reset)
      else { s.once('data', reset); setTimeout(reset, 2000) }
    })
  })
}

let upstream: Server
let gate: ToolgateProcess
t.before(async () => {
  upstream = wsUpstream()
  await listenOnLoopback(upstream)
  gate = await spawnToolgate(gateConfig((upstream.address() as AddressInfo).port, 'timeouts: { idle_ms: 1500, shutdown_ms: 1000 }'))
})
t.teardown(async () => {
  gate.kill()
  upstream.closeAllConnections()
  upstream.close()
})

t.test('upgrade offer then reset, on every listener, protocol and path: the process keeps serving', async (t) => {
  const listeners = [{ name: 'proxy', port: gate.proxyPort, prefix: '/t/ws' }, { name: 'transparent', port: gate.transparentHttpPort!, prefix: '' }, { name: 'admin', port: gate.adminPort, prefix: '' }, ...(gate.controlPort !== null ? [{ name: 'control', port: gate.controlPort, prefix: '' }] : [])]
  const upstreamPort = (upstream.address() as AddressInfo).port
  for (const l of listeners) {
    for (const protocol of ['websocket', 'h2c'] as const) {
      for (const path of ['/chat', '/plain', '/denied/x']) {
        for (const waitFor of ['nothing', 'answer'] as const) {
          const host = l.name === 'transparent' ? '127.0.0.1' : undefined
          await sendThenReset(l.port, upgradeRequest(l.port, l.prefix + path, protocol, host), waitFor)
        }
      }
    }
  }
  void upstreamPort
  await sleep(200)
  t.ok(gate.alive(), `the process is alive: ${gate.alive() ? '' : gate.stderr().slice(-1500)}`)
  const res = await rawRequest(gate.proxyPort, `GET /t/ws/plain HTTP/1.1\r\nHost: x\r\n\r\n`)
  t.equal(res.status, 200, 'and still serves')
})

t.test('an idle upgraded connection is closed after idle_ms', async (t) => {
  const s = connect(gate.proxyPort, '127.0.0.1')
  s.on('error', () => {})
  s.write(upgradeRequest(gate.proxyPort, '/t/ws/chat', 'websocket'))
  const [first] = await once(s, 'data') as [Buffer]
  t.match(first.toString('latin1'), /^HTTP\/1\.1 101/)
  const started = Date.now()
  await once(s, 'close')
  const took = Date.now() - started
  t.ok(took >= 1000 && took < 6000, `closed after ${took} ms of silence (idle_ms 1500)`)
})

t.test('SIGTERM with an open WebSocket: the process exits within the drain bound', async (t) => {
  const s = connect(gate.proxyPort, '127.0.0.1')
  s.on('error', () => {})
  s.write(upgradeRequest(gate.proxyPort, '/t/ws/chat', 'websocket'))
  await once(s, 'data')
  // Keep it busy so the idle timeout is not what closes it.
  const keep = setInterval(() => s.write('x'), 200)
  const started = Date.now()
  gate.child.kill('SIGTERM')
  const code = await Promise.race([gate.exited, sleep(8000).then(() => 'still running')])
  clearInterval(keep)
  s.destroy()
  t.equal(code, 0, `exited with 0 (${Date.now() - started} ms after SIGTERM, drain bound 1000 ms)`)
})
