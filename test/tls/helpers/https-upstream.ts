// A real HTTPS upstream for TLS tests, with its own CA (test/helpers/certificates.ts: the openssl
// CLI, independent of toolgate's X.509 code). It echoes what it received as JSON.
import { createServer, type Server } from 'node:https'
import type { IncomingMessage } from 'node:http'
import { once } from 'node:events'
import { X509Certificate } from 'node:crypto'
import type { AddressInfo } from 'node:net'

// The CA and server certificates come from the one certificate helper.
export { makeServerCert, makeTestCa, type TestCa } from '../../helpers/certificates.ts'

export interface HttpsUpstream {
  port: number
  received: Array<{ method: string; url: string; headers: IncomingMessage['headers'] }>
  /** SHA-256 fingerprint of the upstream's real certificate (what a pinning client pins). */
  fingerprint256: string
  server: Server
  close(): Promise<void>
}

export async function startHttpsUpstream(pair: { cert: string; key: string }, host = '127.0.0.1'): Promise<HttpsUpstream> {
  const received: HttpsUpstream['received'] = []
  const server = createServer({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }, (req, res) => {
    req.resume()
    req.on('end', () => {
      const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers }
      received.push(r)
      const text = JSON.stringify(r)
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      res.end(text)
    })
  })
  server.listen(0, host)
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    received,
    fingerprint256: new X509Certificate(pair.cert).fingerprint256,
    server,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}
