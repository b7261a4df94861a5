// Real HTTP/2 pieces for the interception tests: an h2 upstream (node:http2, TLS, ALPN h2 and
// http/1.1) that echoes what it got and can send trailers, a gRPC server (@grpc/grpc-js, TLS)
// with a unary and a server-streaming method, and an h2 client that reaches an upstream through
// toolgate's CONNECT (Node's http2 client on the tunnelled TLS socket), plus raw frames for what
// no conforming client will send.
import { createSecureServer, connect as h2connect, type ClientHttp2Session, type Http2SecureServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2'
import { request as httpRequest } from 'node:http'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import * as grpc from '@grpc/grpc-js'

export interface H2Upstream {
  port: number
  received: Array<{ httpVersion: string; method: string; url: string; headers: IncomingHttpHeaders; body: string }>
  close(): Promise<void>
}

export async function startH2Upstream(pair: { cert: string; key: string }): Promise<H2Upstream> {
  const received: H2Upstream['received'] = []
  const server: Http2SecureServer = createSecureServer({ cert: pair.cert, key: pair.key, allowHTTP1: true }, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const r = { httpVersion: req.httpVersion, method: req.method, url: req.url, headers: { ...req.headers }, body: Buffer.concat(chunks).toString() }
      received.push(r)
      const text = JSON.stringify(r)
      // /trailers: trailers after the body; /reflect-trailer: the received x-api-key in a trailer.
      if (req.url.startsWith('/trailers') || req.url.startsWith('/reflect-trailer')) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.addTrailers(req.url.startsWith('/trailers') ? { 'x-checksum': 'abc123' } : { 'x-echo': String(req.headers['x-api-key']) })
        res.end(text)
        return
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b }
export const ECHO_SERVICE = {
  unary: { path: '/test.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
  stream: { path: '/test.Echo/Stream', requestStream: false, responseStream: true, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
  forbidden: { path: '/test.Echo/Forbidden', requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
} satisfies grpc.ServiceDefinition

export interface GrpcUpstream {
  port: number
  /** x-api-key metadata of each call, in order. */
  keys: string[]
  close(): Promise<void>
}

/** Unary echoes "<request>|<x-api-key seen>"; Stream sends three messages "<request>#i". */
export async function startGrpcUpstream(pair: { cert: string; key: string }): Promise<GrpcUpstream> {
  const keys: string[] = []
  const server = new grpc.Server()
  const key = (md: grpc.Metadata): string => String(md.get('x-api-key')[0] ?? '')
  server.addService(ECHO_SERVICE, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      keys.push(key(call.metadata))
      cb(null, Buffer.from(`${call.request.toString()}|${key(call.metadata) === '' ? 'none' : 'injected'}`))
    },
    stream: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      keys.push(key(call.metadata))
      for (let i = 0; i < 3; i++) call.write(Buffer.from(`${call.request.toString()}#${i}`))
      call.end()
    },
    forbidden: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => { keys.push('forbidden-reached'); cb(null, Buffer.from('x')) },
  })
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(pair.cert), private_key: Buffer.from(pair.key) }]), (err, p) => (err ? reject(err) : resolve(p))))
  return { port, keys, close: () => new Promise((resolve) => server.tryShutdown(() => resolve())) }
}

/** A TLS connection to host:port through toolgate's CONNECT, offering `alpn`. */
export async function tunnelTls(proxyUrl: string, host: string, port: number, ca: string, alpn: string[] = ['h2']): Promise<TLSSocket> {
  const proxy = new URL(proxyUrl)
  const req = httpRequest({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: `${host}:${port}`, headers: { host: `${host}:${port}` } })
  req.end()
  const [res, socket] = await once(req, 'connect') as [{ statusCode: number }, import('node:net').Socket]
  if (res.statusCode !== 200) throw new Error(`CONNECT answered ${res.statusCode}`)
  const tls = tlsConnect({ socket, servername: host, ALPNProtocols: alpn, ca })
  await once(tls, 'secureConnect')
  return tls
}

/** An h2 client session to https://host:port through toolgate. */
export async function h2Through(proxyUrl: string, host: string, port: number, ca: string): Promise<{ session: ClientHttp2Session; tls: TLSSocket }> {
  const tls = await tunnelTls(proxyUrl, host, port, ca)
  const session = h2connect(`https://${host}:${port}`, { createConnection: () => tls })
  session.on('error', () => {})
  return { session, tls }
}

export interface H2Answer { status: number; headers: IncomingHttpHeaders; body: string; trailers: IncomingHttpHeaders; reset: number | null }

/** One request on a session; resolves with the answer, or with `reset` set when the stream was reset. */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Answer> {
  return new Promise((resolve) => {
    const stream = session.request(headers, { endStream: body === undefined })
    const out: H2Answer = { status: 0, headers: {}, body: '', trailers: {}, reset: null }
    stream.on('response', (h) => { out.headers = h; out.status = Number(h[':status']) })
    stream.on('trailers', (t) => { out.trailers = t })
    stream.on('data', (c: Buffer) => { out.body += c.toString() })
    stream.on('error', () => {})
    stream.on('close', () => { if (stream.rstCode !== 0) out.reset = stream.rstCode; resolve(out) })
    // The answer is complete when its readable side ends, even while our body is still flowing.
    stream.on('end', () => { resolve(out) })
    if (body !== undefined) stream.end(body)
  })
}

// --- raw frames, for header blocks a conforming client refuses to send ---

function hpackInt(value: number, prefixBits: number, first: number): number[] {
  const max = (1 << prefixBits) - 1
  if (value < max) return [first | value]
  const out = [first | max]
  value -= max
  while (value >= 128) { out.push((value % 128) + 128); value = Math.floor(value / 128) }
  out.push(value)
  return out
}

/** HPACK "literal header field without indexing, new name", no Huffman: any bytes go through. */
export function hpackBlock(fields: Array<[string, string]>): Buffer {
  const bytes: number[] = []
  for (const [n, v] of fields) {
    bytes.push(0x00, ...hpackInt(Buffer.byteLength(n), 7, 0), ...Buffer.from(n), ...hpackInt(Buffer.byteLength(v), 7, 0), ...Buffer.from(v))
  }
  return Buffer.from(bytes)
}

export function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9)
  h.writeUIntBE(payload.length, 0, 3)
  h[3] = type
  h[4] = flags
  h.writeUInt32BE(streamId, 5)
  return Buffer.concat([h, payload])
}

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')

export interface RawFrame { type: number; flags: number; stream: number; payload: Buffer }

/** Frames read from a socket until `done` says so or the socket closes (bounded by `timeoutMs`). */
export async function readFrames(socket: TLSSocket, done: (frames: RawFrame[]) => boolean, timeoutMs = 5000): Promise<RawFrame[]> {
  let buf = Buffer.alloc(0)
  const frames: RawFrame[] = []
  return new Promise((resolve) => {
    const finish = (): void => { clearTimeout(timer); socket.removeAllListeners('data'); resolve(frames) }
    const timer = setTimeout(finish, timeoutMs)
    socket.once('close', finish)
    socket.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c])
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3)
        if (buf.length < 9 + len) break
        frames.push({ type: buf[3]!, flags: buf[4]!, stream: buf.readUInt32BE(5) & 0x7fffffff, payload: buf.subarray(9, 9 + len) })
        buf = buf.subarray(9 + len)
      }
      if (done(frames)) finish()
    })
  })
}
