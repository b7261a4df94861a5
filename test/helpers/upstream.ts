// A real HTTP upstream for tests, on 127.0.0.1 with a free port. It echoes what it received
// (method, target, raw headers, body) as JSON, and has a few paths that misbehave on purpose:
//   /redirect      302 to /echo (toolgate must not follow it)
//   /slow?ms=N     waits N ms before the response headers
//   /big?bytes=N   streams N bytes
//   /reset         destroys the socket without a response
//   /hop           answers with hop-by-hop headers that must not reach the client
import { createServer, Server as HttpServer, type IncomingMessage, type Server } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo, Server as NetServer } from 'node:net'

export interface Received {
  method: string
  url: string
  rawHeaders: string[]
  headers: IncomingMessage['headers']
  body: string
}

export interface Upstream {
  url: string
  port: number
  received: Received[]
  server: Server
  close(): Promise<void>
}

export async function startUpstream(): Promise<Upstream> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const r: Received = { method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      received.push(r)
      const u = new URL(req.url ?? '/', 'http://upstream')
      if (u.pathname === '/redirect') {
        res.writeHead(302, { location: '/echo' })
        res.end()
      } else if (u.pathname === '/slow') {
        setTimeout(() => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('slow') }, Number(u.searchParams.get('ms') ?? 1000))
      } else if (u.pathname === '/big') {
        const total = Number(u.searchParams.get('bytes') ?? 1024)
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total })
        const block = Buffer.alloc(65536, 97)
        let sent = 0
        const pump = (): void => {
          while (sent < total) {
            const n = Math.min(block.length, total - sent)
            sent += n
            if (!res.write(block.subarray(0, n))) { res.once('drain', pump); return }
          }
          res.end()
        }
        pump()
      } else if (u.pathname === '/reset') {
        req.socket.destroy()
      } else if (u.pathname === '/hop') {
        res.writeHead(200, { 'content-type': 'text/plain', connection: 'close, x-secret-hop', 'x-secret-hop': 'leak', 'keep-alive': 'timeout=5', 'proxy-authenticate': 'Basic' })
        res.end('hop')
      } else {
        const text = JSON.stringify(r)
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-upstream': 'yes' })
        res.end(text)
      }
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    server,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}

export interface Listening {
  port: number
  url: string
  close(): Promise<void>
}

/**
 * Listens with a server the test scripted itself (node:http, node:net, ws, express) on
 * 127.0.0.1 and a free port: the one place tests bind their own servers. With `t`, the server
 * is closed (its connections too) when the test ends.
 */
export async function listenOnLoopback(server: NetServer, t?: { teardown(fn: () => unknown): void }): Promise<Listening> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  const close = (): Promise<void> => new Promise((resolve) => {
    if (server instanceof HttpServer) server.closeAllConnections()
    server.close(() => resolve())
  })
  t?.teardown(close)
  return { port, url: `http://127.0.0.1:${port}`, close }
}
