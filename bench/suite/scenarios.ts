// The scenarios of the benchmark suite. Each one starts what it measures (in its own processes),
// says which request to send and where, which processes' CPU and memory count as "the proxy",
// and how to tell that its answer is the right one. A scenario whose piece of toolgate is not
// there yet (or whose external tool is missing) returns a skip with the reason instead.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ProxyAgent, Pool, type Dispatcher } from 'undici'
import { startToolgateProcess } from '../lib/toolgate-process.ts'
import { findNginx, startNginx } from '../lib/nginx.ts'
import { findOpa, startOpaServer } from '../lib/opa-server.ts'
import { startChild } from '../lib/processes.ts'
import type { PkiFiles } from '../lib/pki.ts'
import { startOtlpSink } from '../lib/otlp-sink.ts'

export interface SuiteContext {
  dir: string
  upstreamPort: number
  upstreamPid: number
  httpsUpstreamPort: number
  httpsUpstreamPid: number
  mcpPort: number
  mcpPid: number
  upstreamPki: PkiFiles
  interceptPki: PkiFiles
  secretFile: string
  connections: number
  nginxWorkers: number
  toolgateNodeArgs: string[]
  /** Environment of the toolgate processes (NODE_OPTIONS, MALLOC_ARENA_MAX as the sidecar runs). */
  toolgateEnv: NodeJS.ProcessEnv
  toolgateBin: string
}

export interface Target {
  origin: string
  path: string
  method?: string
  headers?: Record<string, string>
  body?: string
  dispatcher?: () => Dispatcher
}

export interface Probe { status: number; headers: Record<string, string | string[] | undefined>; body: string }

export interface Prepared {
  target: Target
  /** Processes whose CPU time and RSS are this scenario's cost. */
  pids: number[]
  readyMs?: number
  notes?: string
  /** null when the probe answer is right, else why not (the scenario is then skipped). */
  verify(p: Probe): string | null
  close(): Promise<void>
}

export interface Scenario {
  name: string
  description: string
  /** The scenario whose latency is subtracted to get "added" latency (null: it is a baseline). */
  baseline: string | null
  /** Targets apply to toolgate scenarios only. */
  toolgate: boolean
  setup(ctx: SuiteContext): Promise<Prepared | { skip: string }>
}

export const ITEM = '/v1/items/42'
const UPSTREAM_BODY = '"note":"benchmark upstream"'
const MCP_CALL = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'bench-echo' } } })
const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }

/** A forward-proxy request: absolute-form target, Host naming the upstream (undici would
 * otherwise send the proxy's authority, which toolgate refuses as a disagreeing Host). */
export function forwardTarget(proxyUrl: string, upstreamPort: number): Target {
  return { origin: proxyUrl, path: `http://127.0.0.1:${upstreamPort}${ITEM}`, headers: { host: `127.0.0.1:${upstreamPort}` } }
}

export const okUpstream = (p: Probe): string | null => (p.status === 200 && p.body.includes(UPSTREAM_BODY) ? null : `expected the upstream's 200, got ${p.status} ${p.body.slice(0, 200)}`)
const okMcp = (p: Probe): string | null => (p.status === 200 && p.body.includes('bench-echo') && !p.body.includes('isError') ? null : `expected the echo tool's result, got ${p.status} ${p.body.slice(0, 200)}`)

function recordsLine(ctx: SuiteContext, name: string): string {
  return `logging: { level: info, records: ${ctx.dir}/records-${name}.jsonl }`
}

const listeners = `listeners:
  proxy: { host: 127.0.0.1, port: 0 }
  admin: { host: 127.0.0.1, port: 0 }`

function benchTool(port: number, extra = ''): string {
  return `  - name: bench
    match: { scheme: http, host: 127.0.0.1, port: ${port} }
    data_classification: internal
    routes:
      - { name: item, methods: [GET], path: "/v1/items/{id}" }
${extra}`
}

/** The plain-HTTP toolgate config (policy: the embedded default bundle), records to `recordsFile`. */
export function plainConfig(upstreamPort: number, recordsFile: string): string {
  return `version: 1
${listeners}
logging: { level: info, records: ${recordsFile} }
tools:
${benchTool(upstreamPort)}`
}

export function allowConfig(ctx: SuiteContext, name = 'allow'): string {
  return plainConfig(ctx.upstreamPort, `${ctx.dir}/records-${name}.jsonl`)
}

// Each config lives in a directory of its own (as a ConfigMap mount does): toolgate watches the
// config's directory, and the records file being written next to it would wake it on every call.
async function toolgateScenario(ctx: SuiteContext, name: string, yaml: string, target: (proxyUrl: string) => Target, verify: (p: Probe) => string | null): Promise<Prepared | { skip: string }> {
  let tg
  try {
    tg = await startToolgateProcess(ctx.dir, yaml, { configName: `config-${name}/toolgate.yaml`, nodeArgs: ctx.toolgateNodeArgs, bin: ctx.toolgateBin, env: ctx.toolgateEnv })
  } catch (err) {
    const msg = (err as Error).message
    const line = msg.split('\n').find((l) => /Error\b|error"/.test(l))?.trim() ?? msg.replace(/\s+/g, ' ').slice(-240)
    return { skip: `toolgate did not start: ${line.slice(0, 240)}` }
  }
  return { target: target(tg.proxyUrl), pids: [tg.pid], readyMs: tg.readyMs, verify, close: () => tg.stop() }
}

export const scenarios: Scenario[] = [
  {
    name: 'direct',
    description: 'load generator straight to the HTTP upstream (baseline; CPU/RSS are the upstream\'s)',
    baseline: null,
    toolgate: false,
    setup: async (ctx) => ({ target: { origin: `http://127.0.0.1:${ctx.upstreamPort}`, path: ITEM }, pids: [ctx.upstreamPid], verify: okUpstream, close: async () => {} }),
  },
  {
    name: 'toolgate',
    description: 'toolgate, route prefix /t/bench/, allowlist + default OPA WASM policy, records to a file, no credential',
    baseline: 'direct',
    toolgate: true,
    setup: (ctx) => toolgateScenario(ctx, 'allow', allowConfig(ctx), (u) => ({ origin: u, path: `/t/bench${ITEM}` }), okUpstream),
  },
  {
    name: 'toolgate-forward',
    description: 'as toolgate, in forward-proxy mode: absolute-form requests (GET http://upstream/... to the proxy port), as HTTP_PROXY clients send them',
    baseline: 'direct',
    toolgate: true,
    setup: (ctx) => toolgateScenario(ctx, 'forward', allowConfig(ctx, 'forward'), (u) => forwardTarget(u, ctx.upstreamPort), okUpstream),
  },
  {
    name: 'toolgate-traced',
    description: 'as toolgate, plus OpenTelemetry on: a span per call with decide and upstream children, and every record as an OTLP log, exported (OTLP/HTTP protobuf) to a local sink',
    baseline: 'direct',
    toolgate: true,
    setup: async (ctx) => {
      const sink = await startOtlpSink()
      const yaml = `${allowConfig(ctx, 'traced')}
telemetry:
  traces: { endpoint: ${sink.url}/v1/traces }
  logs: { endpoint: ${sink.url}/v1/logs }
`
      const prepared = await toolgateScenario(ctx, 'traced', yaml, (u) => ({ origin: u, path: `/t/bench${ITEM}` }), okUpstream)
      if ('skip' in prepared) {
        await sink.close()
        return prepared
      }
      return { ...prepared, notes: 'OTLP sink answers 200 to every export', close: async () => { await prepared.close(); await sink.close() } }
    },
  },
  {
    name: 'toolgate-cred',
    description: 'as toolgate, plus a static credential injected (cached after the first call); the upstream checks it',
    baseline: 'direct',
    toolgate: true,
    setup: (ctx) => toolgateScenario(ctx, 'cred', `version: 1
${listeners}
${recordsLine(ctx, 'cred')}
credentials:
  bench-static: { type: static, secret_file: ${ctx.secretFile} }
tools:
${benchTool(ctx.upstreamPort, '    credential: { provider: bench-static }\n')}`, (u) => ({ origin: u, path: `/t/bench${ITEM}` }), (p) => {
      const why = okUpstream(p)
      if (why) return why
      return p.headers['x-bench-auth'] === 'ok' ? null : `credential not injected (upstream saw: ${String(p.headers['x-bench-auth'])})`
    }),
  },
  {
    name: 'direct-https',
    description: 'load generator straight to the HTTPS upstream (baseline for https-intercepted)',
    baseline: null,
    toolgate: false,
    setup: async (ctx) => {
      const ca = readFileSync(ctx.upstreamPki.caCert)
      const origin = `https://127.0.0.1:${ctx.httpsUpstreamPort}`
      return { target: { origin, path: ITEM, dispatcher: () => new Pool(origin, { connections: ctx.connections, connect: { ca } }) }, pids: [ctx.httpsUpstreamPid], verify: okUpstream, close: async () => {} }
    },
  },
  {
    name: 'https-intercepted',
    description: 'client -> CONNECT + TLS (leaf minted by toolgate\'s CA) -> toolgate decides each request -> verified TLS to the upstream',
    baseline: 'direct-https',
    toolgate: true,
    setup: async (ctx) => {
      const origin = `https://127.0.0.1:${ctx.httpsUpstreamPort}`
      const interceptCa = readFileSync(ctx.interceptPki.caCert)
      return toolgateScenario(ctx, 'https', `version: 1
${listeners}
${recordsLine(ctx, 'https')}
tls:
  ca: { cert_file: ${ctx.interceptPki.caCert}, key_file: ${ctx.interceptPki.caKey} }
  upstream_ca_files: [${ctx.upstreamPki.caCert}]
tools:
  - name: bench
    match: { scheme: https, host: 127.0.0.1, port: ${ctx.httpsUpstreamPort} }
    data_classification: internal
    routes:
      - { name: item, methods: [GET], path: "/v1/items/{id}" }
`, (proxyUrl) => ({
        origin,
        path: ITEM,
        // The client trusts only toolgate's CA: if the tunnel were not intercepted, the upstream's
        // certificate would fail verification and the probe would say so.
        dispatcher: () => new ProxyAgent({ uri: proxyUrl, connections: ctx.connections, requestTls: { ca: interceptCa } } as ProxyAgent.Options),
      }), okUpstream)
    },
  },
  {
    name: 'direct-mcp',
    description: 'MCP tools/call (JSON-RPC POST, official SDK server, stateless) straight to the server (baseline)',
    baseline: null,
    toolgate: false,
    setup: async (ctx) => ({ target: { origin: `http://127.0.0.1:${ctx.mcpPort}`, path: '/mcp', method: 'POST', headers: MCP_HEADERS, body: MCP_CALL }, pids: [ctx.mcpPid], verify: okMcp, close: async () => {} }),
  },
  {
    name: 'toolgate-mcp',
    description: 'MCP tools/call through toolgate: JSON-RPC body parsed, tool name checked against mcp.allow_tools, policy decides',
    baseline: 'direct-mcp',
    toolgate: true,
    setup: (ctx) => toolgateScenario(ctx, 'mcp', `version: 1
${listeners}
${recordsLine(ctx, 'mcp')}
tools:
  - name: mcp
    match: { scheme: http, host: 127.0.0.1, port: ${ctx.mcpPort} }
    data_classification: internal
    mcp:
      path: /mcp
      allow_tools: [echo]
      tool_access: { echo: read }
`, (u) => ({ origin: u, path: '/t/mcp/mcp', method: 'POST', headers: MCP_HEADERS, body: MCP_CALL }), okMcp),
  },
  {
    name: 'nginx',
    description: 'nginx (Debian) as a reverse proxy, no policy, upstream keep-alive',
    baseline: 'direct',
    toolgate: false,
    setup: async (ctx) => {
      const bin = findNginx()
      if (!bin) return { skip: 'nginx is not installed (apt-get install -y nginx-light)' }
      const n = await startNginx(bin, ctx.dir, ctx.upstreamPort, ctx.nginxWorkers)
      const { withDescendants } = await import('../lib/procstat.ts')
      return { target: { origin: `http://127.0.0.1:${n.port}`, path: `/t/bench${ITEM}` }, pids: withDescendants([n.pid]), notes: `worker_processes ${n.workers}`, verify: okUpstream, close: () => n.stop() }
    },
  },
  {
    name: 'node-proxy',
    description: 'the floor of a Node proxy: node:http server + undici pool forwarding, no policy, no records (bench/lib/pdp-proxy.ts without --opa, bundled like dist/), same Node memory settings as toolgate',
    baseline: 'direct',
    toolgate: false,
    setup: async (ctx) => {
      // Bundled first, as toolgate's dist/ is: run from the .ts source, Node's type stripping
      // alone adds ~20 MiB of RSS, which would flatter toolgate in the comparison.
      const script = join(ctx.dir, 'node-proxy.mjs')
      const { build } = await import('esbuild')
      await build({
        entryPoints: ['bench/lib/pdp-proxy.ts'], outfile: script, bundle: true, platform: 'node', format: 'esm', logLevel: 'warning',
        banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      })
      const proxy = await startChild(process.execPath, [script, '--upstream', String(ctx.upstreamPort)], /listening (\d+)/, { env: ctx.toolgateEnv })
      return { target: { origin: `http://127.0.0.1:${proxy.ready[1]}`, path: `/t/bench${ITEM}` }, pids: [proxy.proc.pid!], verify: okUpstream, close: () => proxy.stop() }
    },
  },
  {
    name: 'external-pdp',
    description: 'a small Node proxy asking `opa run --server` (loopback REST) per call, same Rego as toolgate\'s default policy',
    baseline: 'direct',
    toolgate: false,
    setup: async (ctx) => {
      const bin = findOpa()
      if (!bin) return { skip: 'opa is not built (.cache/bin/opa: run node scripts/prepare-opa.js)' }
      const opa = await startOpaServer(bin)
      const proxy = await startChild(process.execPath, ['bench/lib/pdp-proxy.ts', '--upstream', String(ctx.upstreamPort), '--opa', String(opa.port)], /listening (\d+)/)
      return {
        target: { origin: `http://127.0.0.1:${proxy.ready[1]}`, path: `/t/bench${ITEM}` },
        pids: [proxy.proc.pid!, opa.pid],
        notes: 'CPU/RSS: proxy + opa',
        verify: okUpstream,
        close: async () => { await proxy.stop(); await opa.stop() },
      }
    },
  },
]
