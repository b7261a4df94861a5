// The soak's HTTPS upstream and TLS client side, for the `tls` source: CONNECT through toolgate
// to an inspected HTTPS tool, TLS terminated with a leaf from toolgate's per-pod CA, decided per
// request inside the tunnel, re-encrypted to this upstream (its own test CA, made with the
// openssl CLI like test/tls). Answers {"id": N} for /tls/ok/N; records nothing (bounded).
import { createServer, type Server } from 'node:https'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { readFileSync } from 'node:fs'
import { ProxyAgent, request, type Dispatcher } from 'undici'
import { makeServerCert, makeTestCa } from '../../test/tls/helpers/https-upstream.ts'

export interface TlsUpstream { port: number; caFile: string; close(): Promise<void> }

export async function startTlsUpstream(dir: string): Promise<TlsUpstream> {
  const ca = makeTestCa(dir, 'soak-upstream-ca')
  const pair = makeServerCert(dir, ca, 'soak-tls', ['localhost'])
  const server: Server = createServer({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }, (req, res) => {
    req.resume()
    req.on('end', () => {
      const id = /^\/tls\/ok\/(\d+)$/.exec(req.url ?? '')?.[1]
      const text = JSON.stringify(id === undefined ? { error: 'not found' } : { id })
      res.writeHead(id === undefined ? 404 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    })
  })
  server.keepAliveTimeout = 60_000
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { port: (server.address() as AddressInfo).port, caFile: ca.certFile, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }) }
}

/** One call through an HTTPS proxy tunnel: a long-lived agent (tunnels kept alive) or a fresh one (a new CONNECT and handshake per call). */
export function tlsClient(proxyUrl: string, toolgateCaFile: string, connections: number): { send(url: string, fresh: boolean): Promise<{ status: number; body: string; headers: string }>; close(): Promise<void> } {
  const ca = readFileSync(toolgateCaFile, 'utf8')
  const opts = { uri: proxyUrl, requestTls: { ca }, connections, headersTimeout: 30_000, bodyTimeout: 30_000 }
  const shared = new ProxyAgent(opts)
  return {
    async send(url, fresh) {
      const dispatcher: Dispatcher = fresh ? new ProxyAgent({ ...opts, connections: 1 }) : shared
      try {
        const res = await request(url, { dispatcher })
        return { status: res.statusCode, body: await res.body.text(), headers: JSON.stringify(res.headers) }
      } finally {
        if (fresh) void dispatcher.close().catch(() => {})
      }
    },
    close: () => shared.close(),
  }
}
