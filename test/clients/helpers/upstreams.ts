// The upstreams of the client matrix: one real HTTPS server (its own test CA, made by openssl)
// serving three tools by Host:
//   api.tools.test  an OpenAI-shaped API: GET /v1/models lists models, anything else echoes
//   git.tools.test  git smart HTTP, the real `git http-backend` CGI over a bare repository
//   mcp.tools.test  the official MCP TypeScript SDK server (test/mcp/helpers/mcp-server.ts),
//                   reached through this TLS front (it listens on plain HTTP on loopback)
// and a plain HTTP server on port 80 serving api and mcp again (in-cluster http:// tools; seen
// with host "http://<name>").
// Every request is recorded with its headers, so the test can see which credential arrived.
import { spawn, execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeServerCert, type TestCa } from '../../tls/helpers/https-upstream.ts'
import { startMcpServer, type McpFixture } from '../../mcp/helpers/mcp-server.ts'

export interface Seen {
  host: string
  method: string
  url: string
  authorization: string | undefined
}

export interface MatrixUpstreams {
  seen: Seen[]
  mcp: McpFixture
  close(): Promise<void>
}

const BODY_LIMIT = 1 << 20

/** A bare repository with one commit on main, for `git ls-remote`. */
function makeRepo(root: string, name: string): void {
  const work = join(root, `${name}-work`)
  mkdirSync(work, { recursive: true })
  const git = (args: string[], cwd: string) => execFileSync('git', args, { cwd, stdio: 'ignore', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root, GIT_CONFIG_NOSYSTEM: '1' } })
  git(['init', '-q', '-b', 'main'], work)
  writeFileSync(join(work, 'README'), 'hello\n')
  git(['add', 'README'], work)
  git(['-c', 'user.name=t', '-c', 'user.email=t@example.test', 'commit', '-q', '-m', 'first'], work)
  git(['clone', '-q', '--bare', work, join(root, `${name}.git`)], root)
}

/** Runs `git http-backend` as a CGI for one request (RFC 3875 environment, bounded body). */
function gitBackend(root: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'https://git.tools.test')
  const child = spawn('git', ['http-backend'], {
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: '1',
      REQUEST_METHOD: req.method ?? 'GET',
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      CONTENT_TYPE: req.headers['content-type'] ?? '',
      ...(req.headers['content-length'] !== undefined ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
      ...(req.headers['git-protocol'] !== undefined ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
      REMOTE_ADDR: '127.0.0.1',
    },
    stdio: ['pipe', 'pipe', 'ignore'],
  })
  req.pipe(child.stdin)
  let head = Buffer.alloc(0)
  let headersDone = false
  child.stdout.on('data', (chunk: Buffer) => {
    if (headersDone) { res.write(chunk); return }
    head = Buffer.concat([head, chunk])
    if (head.length > BODY_LIMIT) { child.kill(); res.destroy(); return }
    const end = head.indexOf('\r\n\r\n')
    if (end === -1) return
    headersDone = true
    let status = 200
    for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
      const i = line.indexOf(':')
      const name = line.slice(0, i).trim()
      const value = line.slice(i + 1).trim()
      if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0])
      else res.setHeader(name, value)
    }
    res.writeHead(status)
    res.write(head.subarray(end + 4))
  })
  child.on('close', () => res.end())
}

/** OpenAI-shaped answers, or an echo of the request. */
function api(req: IncomingMessage, res: ServerResponse): void {
  req.resume()
  req.on('end', () => {
    const body = req.url === '/v1/models'
      ? { object: 'list', data: [{ id: 'matrix-model', object: 'model', created: 0, owned_by: 'test' }] }
      : { method: req.method, url: req.url }
    const text = JSON.stringify(body)
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
    res.end(text)
  })
}

/** Relays to the MCP fixture on loopback (streams SSE answers through). */
function relayMcp(port: number, req: IncomingMessage, res: ServerResponse): void {
  const up = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers)
    r.pipe(res)
  })
  up.on('error', () => res.destroy())
  req.pipe(up)
}

export async function startMatrixUpstreams(dir: string, ca: TestCa, address: string): Promise<MatrixUpstreams> {
  const seen: Seen[] = []
  const gitRoot = join(dir, 'git')
  mkdirSync(gitRoot, { recursive: true })
  makeRepo(gitRoot, 'app')
  makeRepo(gitRoot, 'secret')
  const mcp = await startMcpServer({ json: false })
  const pair = makeServerCert(dir, ca, 'matrix-tools', ['api.tools.test', 'git.tools.test', 'mcp.tools.test'])
  const server: Server = createServer({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }, (req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '')
    seen.push({ host, method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization })
    if (host === 'git.tools.test') gitBackend(gitRoot, req, res)
    else if (host === 'mcp.tools.test') relayMcp(mcp.port, req, res)
    else api(req, res)
  })
  server.listen(443, address)
  await once(server, 'listening')
  // The same API and MCP server over plain HTTP on port 80 (in-cluster http:// tools).
  const plain: HttpServer = createHttpServer((req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '')
    seen.push({ host: `http://${host}`, method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization })
    if (host === 'mcp.tools.test') relayMcp(mcp.port, req, res)
    else api(req, res)
  })
  plain.listen(80, address)
  await once(plain, 'listening')
  return {
    seen,
    mcp,
    close: async () => {
      plain.closeAllConnections()
      await new Promise<void>((resolve) => plain.close(() => resolve()))
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await mcp.close()
    },
  }
}
