// HTTPS upstream for the benchmark (own process): answers every request with a small JSON body.
import { createServer } from 'node:https'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'

const [cert, key] = process.argv.slice(2)
const body = JSON.stringify({ ok: true, items: [1, 2, 3] })
const server = createServer({ cert: readFileSync(cert!), key: readFileSync(key!), keepAliveTimeout: 10_000 }, (req, res) => {
  req.resume()
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
  res.end(body)
})
server.listen(0, '127.0.0.1', () => process.stdout.write(JSON.stringify({ port: (server.address() as AddressInfo).port }) + '\n'))
