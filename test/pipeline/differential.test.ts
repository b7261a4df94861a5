// Differential test: the running proxy and `toolgate decide` run the same chain, so for every
// request they must give the same verdict, stage and reasons. fast-check generates at least 200
// requests of every listener's shape (forward proxy, /t/ prefix, CONNECT, intercepted TLS,
// transparent HTTP, transparent TLS, MCP); each is sent as raw bytes to the real listener of a
// real toolgate (embedded policy bundle, real upstreams on loopback) and the same requests are
// given to the real `toolgate decide --json` binary; the records are compared one by one.
import t from 'tap'
import fc from 'fast-check'
import { execFile } from 'node:child_process'
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { once } from 'node:events'
import { startUpstream, type Upstream } from '../helpers/upstream.ts'
import { rawRequest } from '../helpers/raw.ts'
import { repoRoot } from '../helpers/tools.ts'
import { startInterceptingGate, type InterceptingGate } from '../tls/helpers/gate.ts'
import { testListenersWithTransparent } from '../helpers/toolgate.ts'

const PER_SHAPE = 200
const SEED = 12_012

let up: Upstream
let gate: InterceptingGate
let ca: string
let configFile: string

t.before(async () => {
  up = await startUpstream()
  gate = await startInterceptingGate((dir) => {
    configFile = join(dir, 'toolgate.yaml')
    return `version: 1
${testListenersWithTransparent}tls:
  ca: { publish_cert_to: ${join(dir, 'ca.pem')} }
policy:
  data: { task_required_for: [] }
tools:
  - name: echo
    base_url: http://127.0.0.1:${up.port}
    match: { scheme: http, host: 127.0.0.1, port: ${up.port} }
    routes:
      - { methods: [GET, HEAD], path: "/repos/**" }
      - { methods: [POST], path: "/repos/{owner}/{repo}/issues", access: write }
      - { methods: [GET], path: "/ws", upgrade: true }
    deny: [{ path: "/repos/*/secret/**", reason: "secret repos are off limits" }]
  - name: report
    mode: report
    base_url: http://localhost:${up.port}
    match: { scheme: http, host: localhost, port: ${up.port} }
    allow_addresses: ["127.0.0.0/8", "::1/128"]
    routes: [{ methods: [GET], path: "/read/**" }]
  - name: plain80
    match: { scheme: http, host: plain.example.test, port: 80 }
    routes: [{ methods: [GET], path: "/**" }]
  - name: secure
    match: { scheme: https, host: secure.example.test }
    routes: [{ methods: [GET], path: "/v1/**" }]
    deny: [{ path: "/v1/admin/**", reason: "admin is off limits" }]
  - name: pass
    match: { scheme: https, host: pass.example.test }
    passthrough: true
  - name: mcp
    match: { scheme: http, host: 127.0.0.2, port: ${up.port} }
    allow_addresses: ["127.0.0.2/32"]
    routes: [{ methods: [POST, GET, DELETE], path: "/mcp", access: read }]
    mcp:
      path: /mcp
      allow_tools: ["get_*", "list_*", "echo"]
      deny_tools: ["delete_*"]
`
  })
  ca = readFileSync(join(gate.dir, 'ca.pem'), 'utf8')
})
t.teardown(async () => { await gate.close(); await up.close() })

/** What a request is, as `toolgate decide` reads it, plus how to send it to the running proxy. */
interface Case {
  line: Record<string, unknown>
  send(): Promise<void>
  /** Records the proxy writes for it; the one to compare is the last. */
  records: number
}

const proxyPort = (): number => Number(new URL(gate.proxyUrl).port)

// ---- generators ----
const segment = fc.constantFrom('repos', 'acme', 'app', 'issues', 'secret', 'read', 'v1', 'admin', 'x', '..', '.', '%2e%2e', '%2F', 'a%20b', '~u', 'A', 'mcp', 'ws')
// Half the paths are ones the routes know (so allows, deny rules and the policy are reached), half random.
const knownPath = fc.constantFrom('/repos/acme/app', '/repos/acme/app/issues', '/repos/acme/secret/x', '/read/a', '/v1/items', '/v1/admin/users', '/ws', '/mcp', '/')
const path = fc.oneof({ arbitrary: knownPath, weight: 2 }, { arbitrary: fc.array(segment, { maxLength: 5 }).map((s) => '/' + s.join('/')), weight: 1 })
const query = fc.option(fc.constantFrom('a=1', 'q=secret&x=2', 'token=abc'), { nil: undefined })
const method = fc.oneof({ arbitrary: fc.constant('GET'), weight: 4 }, { arbitrary: fc.constantFrom('POST', 'DELETE', 'PUT', 'HEAD'), weight: 2 })
const task = fc.option(fc.constantFrom('t-unknown-1', 'nope'), { nil: undefined })
const target = (p: string, q: string | undefined): string => p + (q !== undefined ? `?${q}` : '')

function headersOf(taskId: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return { ...(taskId !== undefined ? { 'toolgate-task': taskId } : {}), ...extra }
}

function httpBytes(m: string, url: string, host: string, headers: Record<string, string>, body?: string): string {
  const lines = [`${m} ${url} HTTP/1.1`, `Host: ${host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), 'Connection: close']
  if (body !== undefined) lines.push(`Content-Length: ${Buffer.byteLength(body)}`)
  return lines.join('\r\n') + '\r\n\r\n' + (body ?? '')
}

function closed(s: Socket): Promise<void> {
  s.on('error', () => {})
  return new Promise((resolve) => { if (s.destroyed) resolve(); else s.once('close', () => resolve()) })
}

const authorities = () => [`http://127.0.0.1:${up.port}`, `http://localhost:${up.port}`, 'http://127.0.0.1:9', `http://127.0.0.2:${up.port}`, 'https://pass.example.test', 'https://secure.example.test']

function forwardCases(): Case[] {
  return fc.sample(fc.record({ m: method, a: fc.constantFrom(...authorities()), p: path, q: query, task }), { numRuns: PER_SHAPE, seed: SEED }).map(({ m, a, p, q, task }) => {
    const url = `${a}${target(p, q)}`
    const headers = headersOf(task)
    const body = m === 'POST' ? '{}' : undefined
    return { line: { method: m, url, headers, ...(body !== undefined ? { body } : {}) }, records: 1, send: async () => { await rawRequest(proxyPort(), httpBytes(m, url, new URL(a).host, headers, body)) } }
  })
}

function prefixCases(): Case[] {
  return fc.sample(fc.record({ m: method, tool: fc.constantFrom('echo', 'report', 'plain80', 'nope', 'secure'), p: path, q: query, task }), { numRuns: PER_SHAPE, seed: SEED + 1 }).map(({ m, tool, p, q, task }) => {
    const url = `/t/${tool}${target(p, q)}`
    const headers = headersOf(task)
    return { line: { method: m, url, headers }, records: 1, send: async () => { await rawRequest(proxyPort(), httpBytes(m, url, '127.0.0.1', headers)) } }
  })
}

function connectCases(): Case[] {
  const hosts = fc.constantFrom('secure.example.test', 'pass.example.test', 'nothing.example.test', 'SECURE.Example.test', 'secure.example.test.', '127.0.0.1', '[::1]', 'a_b.example.test', '0x7f.1', 'xn--bcher-kva.example')
  const ports = fc.constantFrom('443', '8443', '80', '0443', '65536')
  return fc.sample(fc.record({ h: hosts, p: ports }), { numRuns: PER_SHAPE, seed: SEED + 2 }).map(({ h, p }) => {
    const authority = `${h}:${p}`
    return {
      line: { method: 'CONNECT', url: authority },
      records: 1,
      send: async () => { await rawRequest(proxyPort(), `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`, 3000, true) },
    }
  })
}

function interceptedCases(): Case[] {
  const hosts = fc.constantFrom('secure.example.test', 'secure.example.test:443', 'other.example.test', 'SECURE.example.test', 'secure.example.test:8443')
  return fc.sample(fc.record({ m: method, h: hosts, p: path, q: query, task }), { numRuns: PER_SHAPE, seed: SEED + 3 }).map(({ m, h, p, q, task }) => {
    const url = target(p, q)
    const headers = headersOf(task)
    return {
      line: { method: m, url, headers: { host: h, ...headers }, via: 'intercepted', tunnel: 'secure.example.test:443' },
      records: 2, // the tunnel (opened for inspection), then the request
      send: async () => {
        const socket = netConnect(proxyPort(), '127.0.0.1')
        await once(socket, 'connect')
        socket.write('CONNECT secure.example.test:443 HTTP/1.1\r\nHost: secure.example.test:443\r\n\r\n')
        await new Promise<void>((resolve) => socket.once('data', () => resolve()))
        const tls = tlsConnect({ socket, ca, servername: 'secure.example.test' })
        await once(tls, 'secureConnect')
        tls.on('data', () => {})
        tls.write(httpBytes(m, url, h, headers))
        await Promise.race([closed(tls as unknown as Socket), new Promise((r) => setTimeout(r, 3000))])
        tls.destroy()
      },
    }
  })
}

function transparentHttpCases(): Case[] {
  const hosts = fc.constantFrom('plain.example.test', 'plain.example.test:80', 'plain.example.test:8080', 'other.example.test', `127.0.0.1:${up.port}`, 'PLAIN.example.test.')
  return fc.sample(fc.record({ m: method, h: hosts, p: path, q: query, task }), { numRuns: PER_SHAPE, seed: SEED + 4 }).map(({ m, h, p, q, task }) => {
    const url = target(p, q)
    const headers = headersOf(task)
    return { line: { method: m, url, headers: { host: h, ...headers }, via: 'transparent' }, records: 1, send: async () => { await rawRequest(gate.transparent.http!.port, httpBytes(m, url, h, headers)) } }
  })
}

function transparentTlsCases(): Case[] {
  const snis = fc.constantFrom('secure.example.test', 'pass.example.test', 'nothing.example.test', 'a_b.example.test', 'xn--bcher-kva.example')
  return fc.sample(snis, { numRuns: PER_SHAPE, seed: SEED + 5 }).map((sni) => ({
    line: { method: 'CONNECT', url: `${sni}:443`, via: 'transparent' },
    records: 1,
    send: async () => {
      const s = tlsConnect({ port: gate.transparent.tls!.port, host: '127.0.0.1', servername: sni, ca })
      s.on('error', () => {})
      // end(), not destroy(): the client's Finished must reach toolgate, or the connection is a
      // handshake the client abandoned (recorded as a failure after the allowed connection).
      s.on('secureConnect', () => s.end())
      await Promise.race([closed(s as unknown as Socket), new Promise((r) => setTimeout(r, 3000))])
      s.destroy()
    },
  }))
}

function mcpCases(): Case[] {
  const names = fc.constantFrom('get_issue', 'list_issues', 'delete_repo', 'echo', 'admin_purge', '', 'get\u0000x')
  const message = fc.oneof(
    fc.record({ name: names, id: fc.integer({ min: 1, max: 99 }) }).map(({ name, id }) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: { repo: 'acme/app' } } })),
    fc.integer({ min: 1, max: 99 }).map((id) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list' })),
    fc.constant(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })),
    fc.constantFrom('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"delete_repo"}}', '{not json', '[]'),
  )
  return fc.sample(fc.record({ body: message, task }), { numRuns: PER_SHAPE, seed: SEED + 6 }).map(({ body, task }) => {
    const url = `http://127.0.0.2:${up.port}/mcp`
    const headers = headersOf(task, { 'content-type': 'application/json', accept: 'application/json, text/event-stream' })
    return { line: { method: 'POST', url, headers, body }, records: 1, send: async () => { await rawRequest(proxyPort(), httpBytes('POST', url, `127.0.0.2:${up.port}`, headers, body)) } }
  })
}

function decide(lines: Array<Record<string, unknown>>): Promise<Array<Record<string, any>>> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [join(repoRoot, 'bin/toolgate.js'), 'decide', '--config', configFile, '--json'], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err)
      try { resolve(stdout.trim().split('\n').map((l) => JSON.parse(l))) } catch { reject(new Error(`decide printed: ${stdout.slice(0, 500)}\n${stderr}`)) }
    })
    child.stdin!.end(lines.map((l) => JSON.stringify(l)).join('\n') + '\n')
  })
}

async function waitForRecords(count: number): Promise<void> {
  if (count > 0) await gate.recorded((_r, i) => i === count - 1, 3000).catch(() => null)
}

const shapes: Array<[string, () => Case[]]> = [
  ['forward', forwardCases],
  ['prefix', prefixCases],
  ['CONNECT', connectCases],
  ['intercepted TLS', interceptedCases],
  ['transparent HTTP', transparentHttpCases],
  ['transparent TLS', transparentTlsCases],
  ['MCP', mcpCases],
]

for (const [shape, generate] of shapes) {
  t.test(`${shape}: ${PER_SHAPE} generated requests, proxy and toolgate decide agree`, async (t) => {
    const cases = generate()
    t.ok(cases.length >= 200, `${cases.length} requests`)
    const fromProxy: Array<Record<string, any>> = []
    for (const c of cases) {
      const before = gate.records.length
      await c.send()
      await waitForRecords(before + c.records)
      const mine = gate.records.slice(before)
      t.equal(mine.length, c.records, `one record per decision: ${JSON.stringify(c.line)}`)
      fromProxy.push(mine.at(-1) as Record<string, any>)
    }
    const fromDecide = await decide(cases.map((c) => c.line))
    t.equal(fromDecide.length, cases.length, 'decide printed one decision per request')
    let differ = 0
    const verdicts = new Map<string, number>()
    for (let i = 0; i < cases.length; i++) {
      const p = fromProxy[i]!
      const d = fromDecide[i]!
      const same = p?.decision === d?.decision && p?.stage === d?.stage && JSON.stringify(p?.reasons) === JSON.stringify(d?.reasons)
      verdicts.set(`${p?.decision}/${p?.stage}`, (verdicts.get(`${p?.decision}/${p?.stage}`) ?? 0) + 1)
      if (!same && differ++ < 5) t.fail(`differs: ${JSON.stringify(cases[i]!.line)}\n  proxy:  ${JSON.stringify({ decision: p?.decision, stage: p?.stage, reasons: p?.reasons })}\n  decide: ${JSON.stringify({ decision: d?.decision, stage: d?.stage, reasons: d?.reasons })}`)
    }
    t.equal(differ, 0, `verdict, stage and reasons agree for all ${cases.length}`)
    // The generators must reach more than one outcome, or the comparison proves little.
    t.ok(verdicts.size >= 2, `outcomes covered: ${JSON.stringify(Object.fromEntries(verdicts))}`)
  })
}
