// A minimal upstream for benchmarks: answers every request with a small JSON body.
// Prints "listening <port>" when ready.
//   --tls-cert F --tls-key F   serve HTTPS with this certificate
//   --secret-file F            check `Authorization: Bearer <secret>` on every request and say in
//                              the `x-bench-auth` response header whether it was ok, missing or
//                              wrong (never the value): how the credential scenario proves
//                              toolgate injected the credential, without echoing it.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { 'tls-cert': { type: 'string' }, 'tls-key': { type: 'string' }, 'secret-file': { type: 'string' } } })
const expected = values['secret-file'] ? `Bearer ${readFileSync(values['secret-file'], 'utf8').trim()}` : null

const body = JSON.stringify({ ok: true, items: [1, 2, 3], note: 'benchmark upstream' })
const handler = (req: IncomingMessage, res: ServerResponse): void => {
  req.resume()
  req.on('end', () => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
    if (expected !== null) {
      const got = req.headers.authorization
      headers['x-bench-auth'] = got === undefined ? 'missing' : got === expected ? 'ok' : 'wrong'
    }
    res.writeHead(200, headers)
    res.end(body)
  })
}
const server = values['tls-cert'] && values['tls-key']
  ? createTlsServer({ cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']) }, handler)
  : createServer(handler)
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
