// Property tests of the first-bytes decision of a CONNECT tunnel (listen/tunnel-sniff.ts): the
// decision never depends on how the client split its bytes, HTTP method tokens are read as HTTP
// (PRI as h2c), and the reader stays bounded. readFirstBytes runs on a real net socket pair on
// loopback for the split property (each piece written separately, Nagle off).
import t from 'tap'
import fc from 'fast-check'
import { createServer, connect, type Socket } from 'node:net'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { PassThrough } from 'node:stream'
import { classifyFirstBytes, readFirstBytes, MAX_METHOD_BYTES, type FirstBytes } from '../../proxy/src/listen/tunnel-sniff.ts'

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

/** Splits `bytes` at the given cut points (sorted, deduplicated, inside the buffer). */
function split(bytes: Uint8Array, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const parts: Buffer[] = []
  let at = 0
  for (const p of [...points, bytes.length]) {
    if (p > at) parts.push(Buffer.from(bytes.subarray(at, p)))
    at = Math.max(at, p)
  }
  return parts
}

/** Interesting first bytes: TLS records, method tokens (PRI included), and noise. */
const firstBytes = fc.oneof(
  fc.uint8Array({ maxLength: 48 }),
  fc.tuple(fc.constantFrom(0x16), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 8 })).map(([a, b, rest]) => Uint8Array.from([a, b, ...rest])),
  fc.tuple(fc.oneof(fc.constantFrom('GET', 'POST', 'PRI', 'CONNECT', 'M-SEARCH'), fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: 40 })), fc.constantFrom(' / HTTP/1.1\r\n', ' * HTTP/2.0\r\n', '\r\n', '')).map(([m, rest]) => Uint8Array.from(Buffer.from(m + rest, 'latin1'))),
)

/** The decision read chunk by chunk, as the reader does: the first prefix that decides. */
function incremental(parts: Buffer[]): FirstBytes | null {
  let acc = Buffer.alloc(0)
  for (const p of parts) {
    acc = Buffer.concat([acc, p])
    const d = classifyFirstBytes(acc)
    if (d !== null) return d
  }
  return null
}

t.test('the decision never depends on how the bytes are split', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(firstBytes, fc.array(fc.nat(), { maxLength: 12 }), (bytes, cuts) => {
    const whole = classifyFirstBytes(bytes)
    const piecewise = incremental(split(bytes, cuts))
    if (JSON.stringify(whole) !== JSON.stringify(piecewise)) throw new Error(`whole ${JSON.stringify(whole)} vs split ${JSON.stringify(piecewise)}`)
  }), { numRuns: 2000 }))
})

t.test('a decided prefix decides every longer buffer the same way (monotone)', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(firstBytes, fc.uint8Array({ maxLength: 64 }), (bytes, more) => {
    const d = classifyFirstBytes(bytes)
    if (d === null) return
    const longer = classifyFirstBytes(Uint8Array.from([...bytes, ...more]))
    if (JSON.stringify(d) !== JSON.stringify(longer)) throw new Error('a longer buffer changed the decision')
  }), { numRuns: 2000 }))
})

t.test('method tokens are HTTP (PRI is h2c); at most MAX_METHOD_BYTES + 1 bytes decide', async (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...TCHARS), minLength: 1, maxLength: MAX_METHOD_BYTES }), (method) => {
    const d = classifyFirstBytes(Buffer.from(`${method} / HTTP/1.1\r\n`, 'latin1'))
    const want = method === 'PRI' ? { kind: 'h2c' } : { kind: 'http', method }
    if (JSON.stringify(d) !== JSON.stringify(want)) throw new Error(`${method}: ${JSON.stringify(d)}`)
  }), { numRuns: 1000 }))
  t.doesNotThrow(() => fc.assert(fc.property(fc.uint8Array({ minLength: MAX_METHOD_BYTES + 1, maxLength: 200 }), (bytes) => {
    if (classifyFirstBytes(bytes) === null) throw new Error('undecided after MAX_METHOD_BYTES + 1 bytes')
  }), { numRuns: 1000 }))
  t.same(classifyFirstBytes(Buffer.from([0x16, 0x03, 0x01])), { kind: 'tls' })
  t.equal(classifyFirstBytes(Buffer.from([0x16])), null, 'one byte of a TLS record does not decide yet')
  t.match(classifyFirstBytes(Buffer.from(' GET')), { kind: 'other' }, 'a leading space is not a method')
})

t.test('readFirstBytes over a real loopback socket: same decision for any split, all bytes kept for replay', async (t) => {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const port = (server.address() as AddressInfo).port
  await t.resolves(fc.assert(fc.asyncProperty(firstBytes.filter((b) => classifyFirstBytes(b) !== null), fc.array(fc.nat(), { maxLength: 6 }), async (bytes, cuts) => {
    const accepted = once(server, 'connection') as Promise<[Socket]>
    const client = connect(port, '127.0.0.1')
    client.setNoDelay(true)
    const [sock] = await accepted
    const reading = readFirstBytes(sock, Buffer.alloc(0), 5000)
    for (const part of split(bytes, cuts)) {
      client.write(part)
      await new Promise((r) => setImmediate(r))
    }
    const r = await reading
    client.destroy()
    sock.destroy()
    if (r.kind !== 'decided') throw new Error(`not decided: ${r.kind}`)
    if (JSON.stringify(r.first) !== JSON.stringify(classifyFirstBytes(bytes))) throw new Error('decision differs from the whole buffer')
    if (!Buffer.from(bytes).subarray(0, r.bytes.length).equals(r.bytes)) throw new Error('bytes read are not a prefix of what was sent')
  }), { numRuns: 40 }))
})

t.test('readFirstBytes: a silent client times out, an early close is reported, head bytes count', async (t) => {
  const silent = new PassThrough()
  // The reader's timer is unref'd (a real socket keeps the process alive); a stream does not.
  const alive = setInterval(() => {}, 1000)
  t.match(await readFirstBytes(silent, Buffer.alloc(0), 30), { kind: 'timeout' })
  clearInterval(alive)
  const closing = new PassThrough()
  const closed = readFirstBytes(closing, Buffer.from('GE'), 5000)
  closing.end()
  t.match(await closed, { kind: 'closed', bytes: Buffer.from('GE') })
  t.match(await readFirstBytes(new PassThrough(), Buffer.from('GET / HTTP/1.1\r\n'), 5000), { kind: 'decided', first: { kind: 'http', method: 'GET' } })
  const gone = new PassThrough()
  gone.destroy()
  t.match(await readFirstBytes(gone, Buffer.alloc(0), 5000), { kind: 'closed' }, 'a stream already destroyed is reported closed at once')
})
