// A real HTTPS upstream for TLS tests, with its own CA made by the openssl CLI at test time
// (independent of toolgate's X.509 code). It echoes what it received as JSON.
import { createServer, type Server } from 'node:https'
import type { IncomingMessage } from 'node:http'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import { X509Certificate } from 'node:crypto'
import type { AddressInfo } from 'node:net'

export interface TestCa { certFile: string; keyFile: string; pem: string }

export function makeTestCa(dir: string, name: string): TestCa {
  const keyFile = join(dir, `${name}.key`)
  const certFile = join(dir, `${name}.crt`)
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile])
  execFileSync('openssl', ['req', '-x509', '-new', '-key', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  return { certFile, keyFile, pem: readFileSync(certFile, 'utf8') }
}

export function makeServerCert(dir: string, ca: TestCa, name: string, hosts: string[]): { cert: string; key: string } {
  const key = join(dir, `${name}.key`)
  const csr = join(dir, `${name}.csr`)
  const crt = join(dir, `${name}.crt`)
  const ext = join(dir, `${name}.ext`)
  const san = hosts.map((h) => (/^[\d.]+$/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',')
  execFileSync('sh', ['-c', `printf 'subjectAltName=${san}\\nextendedKeyUsage=serverAuth\\nbasicConstraints=CA:FALSE\\n' > ${ext}`])
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key])
  execFileSync('openssl', ['req', '-new', '-key', key, '-out', csr, '-subj', `/CN=${hosts[0]}`])
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', crt, '-days', '2', '-extfile', ext], { stdio: 'ignore' })
  return { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') }
}

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
