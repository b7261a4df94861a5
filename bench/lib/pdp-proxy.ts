// The external-PDP pattern, as a baseline: a small Node reverse proxy that asks an OPA server
// (`opa run --server`, loopback, REST) for a decision on every call before forwarding it. It
// sends the same input document toolgate builds (version 1: agent, task, tool, request, mcp,
// time) to the same Rego (policy/src, entrypoint toolgate/decision), so the two differ only in
// where the policy runs: out of process over HTTP here, in-process WASM in toolgate.
//   node bench/lib/pdp-proxy.ts --upstream PORT --opa PORT     prints "listening <port>"
// Without --opa it forwards without asking anyone: the floor of any Node proxy (node:http server
// + undici pool, no policy, no records), which tells Node's own cost from toolgate's.
// Only `/t/bench/<path>` is routed (to 127.0.0.1:<upstream>/<path>); anything else is 404.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseArgs } from 'node:util'
import { Pool } from 'undici'

const { values } = parseArgs({ options: { upstream: { type: 'string' }, opa: { type: 'string' } } })
const upstreamPort = Number(values.upstream)
const opa = values.opa ? new Pool(`http://127.0.0.1:${Number(values.opa)}`, { connections: 64 }) : null
const upstream = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 128 })
const PREFIX = '/t/bench/'

interface OpaAnswer { result?: { allow?: unknown; reasons?: unknown } }

/** true when OPA allows the call, else the reasons it gave. */
async function askPdp(pdp: Pool, method: string, target: URL): Promise<true | unknown> {
  const query: Record<string, string[]> = {}
  for (const [k, v] of target.searchParams) (query[k] ??= []).push(v)
  const now = Date.now()
  const input = {
    version: 1,
    agent: { namespace: null, service_account: null, pod: null, spiffe_id: null, labels: {} },
    task: null,
    tool: { name: 'bench', access: 'read', data_classification: null, labels: {}, route: 'GET /v1/items/{id}', captures: {} },
    request: { method, scheme: 'http', host: '127.0.0.1', port: upstreamPort, path: target.pathname, query, headers: {} },
    mcp: null,
    time: { now: new Date(now).toISOString(), now_ns: now * 1_000_000 },
  }
  const decision = await pdp.request({ path: '/v1/data/toolgate/decision', method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input }) })
  const answer = (await decision.body.json()) as OpaAnswer
  return answer.result?.allow === true ? true : (answer.result?.reasons ?? ['no decision'])
}

const server = createServer((req, res) => {
  void (async () => {
    const url = req.url ?? '/'
    if (!url.startsWith(PREFIX)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no route"}')
      return
    }
    const target = new URL(url.slice(PREFIX.length - 1), `http://127.0.0.1:${upstreamPort}`)
    if (opa) {
      const allowed = await askPdp(opa, req.method ?? 'GET', target)
      if (allowed !== true) {
        res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'denied', reasons: allowed }))
        return
      }
    }
    const up = await upstream.request({ path: target.pathname + target.search, method: req.method as 'GET', headers: { host: `127.0.0.1:${upstreamPort}` }, body: req.method === 'GET' || req.method === 'HEAD' ? null : req })
    const headers: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(up.headers)) if (v !== undefined && k !== 'connection' && k !== 'keep-alive' && k !== 'transfer-encoding') headers[k] = v
    res.writeHead(up.statusCode, headers)
    for await (const chunk of up.body) res.write(chunk)
    res.end()
  })().catch((err: Error) => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'upstream', reason: err.message }))
    else res.destroy()
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`))
process.on('SIGTERM', () => server.close(() => process.exit(0)))
