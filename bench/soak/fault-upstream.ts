// The soak's upstream: answers most requests, and misbehaves on purpose on some paths.
//   GET /ok/<n>            200 {"id":"<n>"}
//   GET /cred/<n>          200 {"id":"<n>","auth":"ok"} if Authorization is `Bearer <secret>`,
//                          else 401 {"auth":"missing"|"wrong"} (never echoes what it got)
//   GET /slow/<ms>/<n>     waits <ms> (at most 5 s), then 200 {"id":"<n>"}
//   GET /reset/<n>         destroys the connection without a response      -> toolgate 502
//   GET /hang/<n>          never answers (the socket is closed after 30 s)  -> toolgate 504
//   anything else          404
// Prints "listening <port>" when ready.
//   node bench/soak/fault-upstream.ts --secret-file F
import { createServer } from 'node:http'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { 'secret-file': { type: 'string' } } })
const expected = values['secret-file'] ? `Bearer ${readFileSync(values['secret-file'], 'utf8').trim()}` : null

function json(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

const server = createServer((req, res) => {
  req.resume()
  const parts = (req.url ?? '/').split('?')[0]!.split('/').filter(Boolean)
  const [kind, a, b] = parts
  switch (kind) {
    case 'ok':
      return json(res, 200, { id: a })
    case 'cred': {
      const got = req.headers.authorization
      if (expected !== null && got === expected) return json(res, 200, { id: a, auth: 'ok' })
      return json(res, 401, { auth: got === undefined ? 'missing' : 'wrong' })
    }
    case 'slow': {
      const ms = Math.min(5000, Number(a) || 0)
      const t = setTimeout(() => json(res, 200, { id: b }), ms)
      res.on('close', () => clearTimeout(t))
      return
    }
    case 'reset':
      req.socket.destroy()
      return
    case 'hang': {
      const t = setTimeout(() => req.socket.destroy(), 30_000)
      req.socket.on('close', () => clearTimeout(t))
      return
    }
    default:
      return json(res, 404, { error: 'no such path' })
  }
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`))
process.on('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)) })
