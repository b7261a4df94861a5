// Issue 14: the reset soak. 10,000 connections to a real toolgate process (sidecar memory
// settings) that end in a reset of every kind: before the headers are complete, mid-body, right
// after an upgrade offer (websocket and h2c, allowed and denied paths), after the 101, in the
// middle of a TLS handshake inside a CONNECT tunnel, while a response streams, and on the
// transparent listener. Afterwards the process must still serve, and its RSS must be back within
// 10 MiB of where it was after a warm-up with the same mix.
import t from 'tap'
import { createServer, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { spawnToolgate, type ToolgateProcess } from '../helpers/process.ts'
import { rawRequest } from '../helpers/raw.ts'
import { testListenersYaml } from '../helpers/toolgate.ts'
import { listenOnLoopback } from '../helpers/upstream.ts'

let upstream: Server
let gate: ToolgateProcess

t.before(async () => {
  upstream = createServer((req, res) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      const block = Buffer.alloc(16384, 97)
      let n = 0
      const pump = (): void => { while (n++ < 64) { if (!res.write(block)) { res.once('drain', pump); return } } res.end() }
      res.on('error', () => {})
      pump()
      return
    }
    req.resume()
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 })
    res.end('plain')
  })
  upstream.on('upgrade', (req, socket) => {
    socket.on('error', () => socket.destroy())
    const accept = createHash('sha1').update(String(req.headers['sec-websocket-key']) + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
    socket.pipe(socket)
  })
  upstream.on('clientError', (_e, s) => s.destroy())
  const { port } = await listenOnLoopback(upstream)
  gate = await spawnToolgate(`version: 1
${testListenersYaml({ transparent: 'http', level: 'info', records: '/dev/null' })}timeouts: { idle_ms: 5000, client_headers_ms: 5000 }
tools:
  - name: ws
    match: { scheme: http, host: 127.0.0.1, port: ${port} }
    routes:
      - { path: "/chat", upgrade: true }
      - { path: "/plain", methods: [GET, POST] }
      - { path: "/big" }
    deny:
      - { path: "/denied/**" }
  - name: secure
    match: { scheme: https, host: secure.example }
`, {})
})
t.teardown(async () => {
  gate?.kill()
  upstream.closeAllConnections()
  upstream.close()
})

type Step = { bytes: string | Buffer; waitFor: RegExp | null; then?: string | Buffer; waitAfter?: RegExp }

/** Sends `bytes`, optionally waits for an answer matching waitFor (and sends `then`), then RSTs. */
function attack(port: number, step: Step): Promise<void> {
  return new Promise((resolve) => {
    const s: Socket = connect(port, '127.0.0.1')
    let seen = ''
    let phase = 0
    const timer = setTimeout(() => reset(), 3000)
    const reset = (): void => { clearTimeout(timer); if (!s.destroyed) s.resetAndDestroy() }
    s.on('error', () => {})
    s.on('close', () => { clearTimeout(timer); resolve() })
    s.on('data', (c: Buffer) => {
      seen += c.toString('latin1')
      if (phase === 1 && step.waitFor?.test(seen)) {
        phase = 2
        if (step.then !== undefined) {
          s.write(step.then)
          if (!step.waitAfter) setImmediate(reset)
        } else reset()
      } else if (phase === 2 && step.waitAfter?.test(seen)) reset()
    })
    s.once('connect', () => {
      s.write(step.bytes)
      if (step.waitFor === null) setImmediate(reset)
      else phase = 1
    })
  })
}

// A TLS ClientHello's first bytes (record header and the start of the handshake): enough to make
// the interceptor start a handshake, which the reset then interrupts.
const partialHello = Buffer.from('16030100c8010000c40303' + '00'.repeat(40), 'hex')
const wsHeaders = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'

function kinds(): Array<{ name: string; port: () => number; step: Step }> {
  const p = (): number => gate.proxyPort
  const tp = (): number => gate.transparentHttpPort!
  return [
    { name: 'before headers', port: p, step: { bytes: 'GET /t/ws/pla', waitFor: null } },
    { name: 'no bytes at all', port: p, step: { bytes: '', waitFor: null } },
    { name: 'mid-body', port: p, step: { bytes: 'POST /t/ws/plain HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789', waitFor: null } },
    { name: 'websocket offer, allowed', port: p, step: { bytes: `GET /t/ws/chat HTTP/1.1\r\nHost: x\r\n${wsHeaders}\r\n`, waitFor: null } },
    { name: 'websocket offer, denied', port: p, step: { bytes: `GET /t/ws/denied/x HTTP/1.1\r\nHost: x\r\n${wsHeaders}\r\n`, waitFor: null } },
    { name: 'h2c offer', port: p, step: { bytes: 'GET /t/ws/plain HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n', waitFor: null } },
    { name: 'after the 101', port: p, step: { bytes: `GET /t/ws/chat HTTP/1.1\r\nHost: x\r\n${wsHeaders}\r\n`, waitFor: /^HTTP\/1\.1 101/, then: 'frame-bytes' } },
    { name: 'mid-TLS in a CONNECT tunnel', port: p, step: { bytes: 'CONNECT secure.example:443 HTTP/1.1\r\nHost: secure.example:443\r\n\r\n', waitFor: /^HTTP\/1\.1 200/, then: partialHello } },
    { name: 'while a response streams', port: p, step: { bytes: 'GET /t/ws/big HTTP/1.1\r\nHost: x\r\n\r\n', waitFor: /^HTTP\/1\.1 200/ } },
    { name: 'transparent: websocket offer', port: tp, step: { bytes: `GET /chat HTTP/1.1\r\nHost: 127.0.0.1\r\n${wsHeaders}\r\n`, waitFor: null } },
    { name: 'transparent: mid-body', port: tp, step: { bytes: 'POST /plain HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 50\r\n\r\nabc', waitFor: null } },
  ]
}

async function soak(total: number, parallel: number): Promise<Record<string, number>> {
  const list = kinds()
  const done: Record<string, number> = {}
  let next = 0
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next < total) {
      const k = list[next++ % list.length]!
      await attack(k.port(), k.step)
      done[k.name] = (done[k.name] ?? 0) + 1
    }
  }))
  return done
}

/** RSS in KiB, the median of five samples half a second apart (one GC cycle does not decide it). */
async function settledRss(): Promise<number> {
  const samples: number[] = []
  for (let i = 0; i < 5; i++) { samples.push(gate.rssKiB()); await sleep(500) }
  return samples.sort((a, b) => a - b)[2]!
}

t.test('10,000 resets of every kind: still serving, RSS back within 10 MiB', async (t) => {
  // Warm-up with the same mix, long enough for V8's heap to reach its working size: code
  // compiled, the interception CA and leaf minted, pools made.
  await soak(5000, 16)
  // idle_ms (5 s) passes, so warm-up leftovers are closed, and V8's memory reducer (which acts
  // after several seconds of idleness) has run: the same wait as after the soak.
  await sleep(12_000)
  const baseline = await settledRss()
  const started = Date.now()
  // RSS after each fifth of the run: a leak shows as a line, a working set as a plateau.
  const done: Record<string, number> = {}
  const series: number[] = []
  for (let i = 0; i < 5; i++) {
    for (const [k, v] of Object.entries(await soak(2000, 16))) done[k] = (done[k] ?? 0) + v
    series.push(Math.round(gate.rssKiB() / 102.4) / 10)
  }
  const seconds = (Date.now() - started) / 1000
  t.ok(gate.alive(), `the process survived: ${gate.alive() ? '' : gate.stderr().slice(-2000)}`)
  t.equal(Object.values(done).reduce((a, b) => a + b, 0), 10_000)
  const res = await rawRequest(gate.proxyPort, 'GET /t/ws/plain HTTP/1.1\r\nHost: x\r\n\r\n')
  t.equal(res.status, 200, 'and still serves')
  await sleep(12_000) // every half-open upgraded or tunnelled connection has hit idle_ms; the memory reducer has run
  const after = await settledRss()
  const grew = (after - baseline) / 1024
  t.comment(JSON.stringify({ seconds, baseline_mib: Math.round(baseline / 102.4) / 10, after_mib: Math.round(after / 102.4) / 10, grew_mib: Math.round(grew * 10) / 10, series_mib: series, by_kind: done }))
  t.ok(grew < 10, `RSS ${Math.round(after / 1024)} MiB is within 10 MiB of the ${Math.round(baseline / 1024)} MiB baseline (grew ${grew.toFixed(1)} MiB)`)
})
