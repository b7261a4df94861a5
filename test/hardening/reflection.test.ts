// Issue 14 attack 3: an upstream that echoes the injected credential back. One real upstream
// reflects the Authorization value toolgate injected in every place and encoding (body as is,
// URL-encoded, inside longer base64, JSON-escaped; gzip, deflate, raw deflate, br, zstd bodies;
// split one byte per chunk; Set-Cookie, WWW-Authenticate, Location and a custom header). Two real
// toolgates (redact, the default, and block) sit in front; the agent's side of every response is
// grepped for the secret in all its forms.
import t from 'tap'
import { createServer, request, type Server } from 'node:http'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import * as zlib from 'node:zlib'
import { startTestToolgate, type TestToolgate } from '../helpers/toolgate.ts'
import { listenOnLoopback } from '../helpers/upstream.ts'

const token = `tg-${randomBytes(12).toString('hex')}/+${randomBytes(6).toString('base64url')}`
const injected = `Bearer ${token}`

/** Every form of the secret the agent must never see. */
function leaks(text: string): string[] {
  const forms = [token, encodeURIComponent(token), encodeURIComponent(token).toLowerCase(), token.replace(/\//g, '\\/')]
  for (let k = 0; k < 3; k++) {
    const b = Buffer.concat([Buffer.alloc(k, 0x41), Buffer.from(token), Buffer.alloc(3)]).toString('base64')
    forms.push(b.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + token.length)) / 6)))
  }
  return forms.filter((f) => text.includes(f))
}

const zstd = (zlib as unknown as { zstdCompressSync?: (b: Buffer) => Buffer }).zstdCompressSync
const ENCODINGS: Record<string, { name: string; encode: (b: Buffer) => Buffer }> = {
  gzip: { name: 'gzip', encode: (b) => zlib.gzipSync(b) },
  deflate: { name: 'deflate', encode: (b) => zlib.deflateSync(b) },
  'deflate-raw': { name: 'deflate', encode: (b) => zlib.deflateRawSync(b) },
  br: { name: 'br', encode: (b) => zlib.brotliCompressSync(b) },
  ...(zstd ? { zstd: { name: 'zstd', encode: (b: Buffer) => zstd(b) } } : {}),
  stacked: { name: 'gzip, br', encode: (b) => zlib.brotliCompressSync(zlib.gzipSync(b)) },
}
// 150 MiB of zeros, gzip-compressed to ~150 KiB: inflates past the 100 MiB response limit.
const bomb = zlib.gzipSync(Buffer.alloc(150 * 1024 * 1024))

let upstream: Server
let redact: TestToolgate
let block: TestToolgate

function body(auth: string): Buffer {
  return Buffer.from(JSON.stringify({ headers: { Authorization: auth }, url: `/x?auth=${encodeURIComponent(auth)}`, b64: Buffer.from(`user:${auth}`).toString('base64'), note: 'padding '.repeat(20) }))
}

t.before(async () => {
  upstream = createServer((req, res) => {
    const auth = String(req.headers.authorization ?? '')
    const [, kind, arg] = (req.url ?? '').split('/')
    if (kind === 'body') {
      const b = body(auth)
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': b.length })
      res.end(b)
    } else if (kind === 'enc') {
      const e = ENCODINGS[arg!]!
      const b = e.encode(body(auth))
      res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': e.name, 'content-length': b.length })
      res.end(b)
    } else if (kind === 'split') {
      // One byte per chunk, each flushed on its own: the secret arrives split at every boundary.
      const b = body(auth)
      res.writeHead(200, { 'content-type': 'application/json' })
      let i = 0
      const next = (): void => { if (i >= b.length) { res.end(); return } res.write(b.subarray(i, i + 1)); i++; setImmediate(next) }
      next()
    } else if (kind === 'header') {
      res.writeHead(302, { 'set-cookie': [`session=${auth}; Path=/`, 'other=1'], 'www-authenticate': `Bearer realm="x", error_description="${auth} is expired"`, location: `/login?token=${encodeURIComponent(token)}`, 'x-debug-auth': Buffer.from(token).toString('base64'), 'content-length': 0 })
      res.end()
    } else if (kind === 'stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('data: first\n\n')
      setTimeout(() => { res.write(`data: ${auth}\n\n`); res.end('data: last\n\n') }, 400)
    } else if (kind === 'corrupt') {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': 64 })
      res.end(Buffer.concat([zlib.gzipSync(body(auth)).subarray(0, 20), Buffer.alloc(44, 0x55)]))
    } else if (kind === 'bomb') {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': bomb.length })
      res.end(bomb)
    } else if (kind === 'compress') {
      res.writeHead(200, { 'content-encoding': 'compress', 'content-length': 3 })
      res.end('abc')
    } else {
      res.writeHead(404, { 'content-length': 0 })
      res.end()
    }
  })
  const { port } = await listenOnLoopback(upstream)
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-reflect-'))
  writeFileSync(join(dir, 'token'), token)
  const yaml = (action: string): string => `version: 1
listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }
logging: { level: error }
hardening:
  reflection: { action: ${action} }
credentials:
  echo-token: { type: static, secret_file: ${join(dir, 'token')} }
tools:
  - name: echo
    match: { scheme: http, host: 127.0.0.1, port: ${port} }
    credential: { provider: echo-token }
    routes:
      - { path: "/**" }
`
  redact = await startTestToolgate(yaml('redact'))
  block = await startTestToolgate(yaml('block'))
})
t.teardown(async () => {
  await redact?.close()
  await block?.close()
  upstream.closeAllConnections()
  upstream.close()
})

interface Got { status: number; headers: Record<string, unknown>; body: Buffer; raw: string; error: string | null; firstChunkAt: number; endAt: number }

function get(gate: TestToolgate, path: string): Promise<Got> {
  const u = new URL(gate.proxyUrl)
  const started = Date.now()
  return new Promise((resolve) => {
    const req = request({ host: u.hostname, port: u.port, path: `/t/echo${path}`, agent: false, headers: { 'accept-encoding': 'gzip, deflate, br, zstd' } }, (res) => {
      const chunks: Buffer[] = []
      let firstChunkAt = -1
      res.on('data', (c: Buffer) => { if (firstChunkAt < 0) firstChunkAt = Date.now() - started; chunks.push(c) })
      const done = (error: string | null): void => {
        const b = Buffer.concat(chunks)
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, raw: JSON.stringify(res.headers) + b.toString('latin1'), error, firstChunkAt, endAt: Date.now() - started })
      }
      res.on('end', () => done(null))
      res.on('error', (e) => done(e.message))
      res.on('aborted', () => done('aborted'))
    })
    req.on('error', (e) => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), raw: '', error: e.message, firstChunkAt: -1, endAt: Date.now() - started }))
    req.end()
  })
}

const lastRecord = (gate: TestToolgate): Record<string, any> => gate.records.at(-1) as Record<string, any>

t.test('redact (default): no form of the secret reaches the agent, from any place or encoding', async (t) => {
  const paths = ['/body', '/split', '/header', '/stream', ...Object.keys(ENCODINGS).map((e) => `/enc/${e}`)]
  for (const path of paths) {
    const got = await get(redact, path)
    t.same(leaks(got.raw), [], `${path}: nothing of the secret in headers or body`)
    t.equal(got.error, null, `${path}: the response completed`)
    t.match(lastRecord(redact).credential_reflected, { action: 'redact' }, `${path}: recorded as credential_reflected`)
    if (path !== '/header') {
      t.match(got.body.toString(), /\*{8,}/, `${path}: redacted in place`)
      t.equal(got.headers['content-encoding'], undefined, `${path}: delivered decoded`)
      JSON.parse(got.body.toString().split('\n').filter((l) => l.startsWith('{'))[0] ?? '{}')
    }
  }
  const identity = await get(redact, '/body')
  t.equal(identity.body.length, body(injected).length, 'identity body keeps its length (same-length redaction)')
  const metrics = await fetch(`${redact.adminUrl}/metrics`).then((r) => r.text())
  t.match(metrics, /toolgate_credential_reflections_total\{tool="echo",place="body"\} \d+/)
  t.match(metrics, /toolgate_credential_reflections_total\{tool="echo",place="header"\} \d+/)
  t.notOk(leaks(JSON.stringify(redact.records)).length, 'records never hold the secret')
})

t.test('streaming responses keep streaming through the guard', async (t) => {
  const got = await get(redact, '/stream')
  t.ok(got.firstChunkAt >= 0 && got.firstChunkAt < 300, `first event arrived before the upstream finished (${got.firstChunkAt} ms, end at ${got.endAt} ms)`)
  t.match(got.body.toString(), /data: first\n\ndata: \*+\n\ndata: last/)
})

t.test('block: headers carrying the secret get 502; a body is cut', async (t) => {
  const h = await get(block, '/header')
  t.equal(h.status, 502)
  t.same(leaks(h.raw), [])
  t.match(h.body.toString(), /credential_reflected/)
  const b = await get(block, '/body')
  t.same(leaks(b.raw), [])
  t.not(b.error, null, 'the response was cut')
  t.equal(lastRecord(block).failure?.kind, 'credential_reflected')
  const s = await get(block, '/split')
  t.same(leaks(s.raw), [], 'split across chunks: cut before the secret completes')
})

t.test('a corrupt compressed body is cut, and the sidecar keeps serving', async (t) => {
  const got = await get(redact, '/corrupt')
  t.not(got.error, null, 'cut')
  t.same(leaks(got.raw), [])
  t.equal((await get(redact, '/body')).status, 200)
})

t.test('a decompression bomb is cut at the response limit, inflated no faster than read', async (t) => {
  const u = new URL(redact.proxyUrl)
  const rssBefore = process.memoryUsage().rss
  let peak = rssBefore
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 20)
  // A slow reader: the decoder must wait for it rather than inflate everything into memory.
  const got = await new Promise<{ bytes: number; error: string | null }>((resolve) => {
    const req = request({ host: u.hostname, port: u.port, path: '/t/echo/bomb', agent: false }, (res) => {
      let bytes = 0
      res.on('data', (c: Buffer) => { bytes += c.length; if (bytes < 8 * 1024 * 1024) { res.pause(); setTimeout(() => res.resume(), 1) } })
      res.on('end', () => resolve({ bytes, error: null }))
      res.on('error', (e) => resolve({ bytes, error: e.message }))
      res.on('aborted', () => resolve({ bytes, error: 'aborted' }))
    })
    req.on('error', (e) => resolve({ bytes: 0, error: e.message }))
    req.end()
  })
  clearInterval(sampler)
  t.not(got.error, null, 'cut')
  t.ok(got.bytes <= 100 * 1024 * 1024, `at most the limit reached the agent (${got.bytes} bytes)`)
  t.match(lastRecord(redact).failure, { kind: 'response_too_large' })
  t.ok(peak - rssBefore < 100 * 1024 * 1024, `the inflated body was never held whole (RSS +${Math.round((peak - rssBefore) / 1048576)} MiB)`)
})

t.test('a content-coding the guard cannot undo is refused (fail closed)', async (t) => {
  const got = await get(redact, '/compress')
  t.equal(got.status, 502)
  t.match(JSON.parse(got.body.toString()), { error: { code: 'response_uninspectable', message: /content-encoding "compress" cannot be inspected/ } })
})
