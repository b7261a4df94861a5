// `toolgate decide --config FILE`: reads request descriptions and prints what toolgate would
// decide for each, with the matched tool and route and the reasons, without sending anything.
// Input lines are `METHOD URL` or JSON objects {"method","url","headers"?,"task"?}; a JSON task
// {"intent","tools":[...],"source"?} simulates a call made inside such a task: by default a task
// from a verified grant (source "issuer"), with "source":"agent" an agent-declared one.

import { readFile } from 'node:fs/promises'
import { parseFlags, type Command } from './command.ts'
import { loadConfigOrReport } from './load-config.ts'
import { RequestPipeline } from '../pipeline/chain.ts'
import { dryRunExchange, dryRunTunnelClient } from '../pipeline/dry-run.ts'
import { buildRuntime, type Runtime } from '../listen/runtime.ts'
import { Metrics } from '../record/metrics.ts'
import { memorySink, type RecordFields } from '../record/records.ts'
import { silentLogger } from '../record/log.ts'
import { TaskRegistry } from '../tasks/registry.ts'
import type { PolicyEvaluator } from '../decide/decide.ts'
import type { ApprovalService, CredentialService } from '../pipeline/services.ts'
import type { Via } from '../classify/toolcall.ts'
import { parseAuthority } from '../classify/request-target.ts'
import { jsonLine } from '../record/json-line.ts'
import { SimulatedRateLimits } from './decide-rate-limits.ts'

const USAGE = `usage: toolgate decide [--config FILE] [--input FILE] [--json]

Reads request descriptions (from --input or standard input), one per line:
  GET https://api.github.com/repos/acme/app/issues
  CONNECT pass.example.com:443
  {"method":"POST","url":"https://api.github.com/repos/acme/app/issues","task":{"intent":"triage","tools":["github"]}}
JSON lines may also give "headers", "body" (text, e.g. an MCP JSON-RPC message) and "via":
forward, route, intercepted (with "tunnel": "host:port", the CONNECT it arrived in), transparent
(origin-form url and a Host header, as redirected from port 80; with method CONNECT and url
SNI:443, a redirected TLS connection).
(a "task" is simulated as one from a verified grant; add "source":"agent" for an agent-declared one).
Each runs through the same chain of stages as the proxy, with a terminal stage that sends
nothing, and prints the decision, the matched tool and route, and the reasons.
Local rate limits are simulated: the run starts with full buckets and each allowed line takes
its tokens, like consecutive calls to a fresh sidecar. Global limits (rate_limits.service) are
named but not simulated.

options:
  -c, --config FILE   toolgate.yaml (default: the embedded default config)
  -i, --input FILE    read requests from FILE instead of standard input
      --json          print one JSON object per request
  -h, --help          show this help
`

export interface DecideLine {
  method: string
  url: string
  headers?: Record<string, string>
  task?: { intent?: string; tools?: string[]; source?: 'issuer' | 'agent' }
  body?: string
  via?: Via
  /** For via intercepted: the CONNECT authority (host:port) the request arrived inside. */
  tunnel?: string
}

const VIAS: ReadonlySet<string> = new Set(['forward', 'route', 'connect', 'intercepted', 'transparent'])

export function parseDecideLine(line: string): DecideLine | { error: string } {
  const text = line.trim()
  if (text.startsWith('{')) {
    try {
      const v = JSON.parse(text) as DecideLine
      if (typeof v !== 'object' || v === null || typeof v.method !== 'string' || typeof v.url !== 'string') return { error: 'JSON input needs string "method" and "url"' }
      if (v.via !== undefined && !VIAS.has(v.via)) return { error: `"via" must be one of ${[...VIAS].join(', ')}` }
      if (v.body !== undefined && typeof v.body !== 'string') return { error: '"body" must be a string' }
      if (v.tunnel !== undefined) {
        const a = typeof v.tunnel === 'string' ? parseAuthority(v.tunnel, '"tunnel"') : null
        if (a === null || !a.ok || a.port === null) return { error: `"tunnel" must be "host:port"${a !== null && !a.ok ? ` (${a.reason})` : ''}` }
      }
      if (v.via === 'intercepted' && v.tunnel === undefined) return { error: '"via": "intercepted" needs "tunnel": "host:port" (the CONNECT it arrived in)' }
      if (v.headers !== undefined && (typeof v.headers !== 'object' || v.headers === null || !Object.values(v.headers).every((x) => typeof x === 'string'))) return { error: '"headers" must be an object of strings' }
      return v
    } catch (err) {
      return { error: `invalid JSON: ${(err as Error).message}` }
    }
  }
  const m = /^([A-Za-z]+)\s+(\S+)$/.exec(text)
  if (!m) return { error: 'expected "METHOD URL" or a JSON object' }
  return { method: m[1]!.toUpperCase(), url: m[2]! }
}

/** A registry holding the one simulated task, so the policy sees it as it would a real one. */
function simulatedTasks(task: DecideLine['task'], bounds: Runtime['config']['tasks']): { tasks: TaskRegistry; id: string } | { error: string } | null {
  if (!task) return null
  const tasks = new TaskRegistry({ defaultTtlS: Math.min(bounds.default_ttl_s, bounds.max_ttl_s), maxTtlS: bounds.max_ttl_s, maxTasks: 1, sweepMs: 3_600_000 })
  const input = { intent: task.intent ?? 'simulated by toolgate decide', tools: task.tools ?? [] }
  const created = tasks.create(input)
  if (!created.ok) {
    tasks.close()
    return { error: `invalid task: ${created.error.reason}` }
  }
  if (task.source === 'agent') return { tasks, id: created.task.id }
  // What a verified grant would open (the validation above applies to both kinds).
  tasks.end(created.task.id, 'deleted')
  const grant = tasks.openGrant({ issuer: 'simulated', maxTasks: 1, txn: 'toolgate-decide', subject: 'simulated', requester: null, intent: input.intent, tools: input.tools, maxCalls: null, expiresAt: Date.now() + 3_600_000 })
  if (!grant.ok) {
    tasks.close()
    return { error: `invalid task: ${grant.reason}` }
  }
  return { tasks, id: grant.task.id }
}

/** What one dry run decided: the record(s) the chain wrote (several for an MCP batch). */
export async function dryRun(rt: Runtime, policy: PolicyEvaluator, line: DecideLine, services: { tasks: TaskRegistry | null; credentials: CredentialService | null; approvals: ApprovalService | null }, taskId: string | null, rateLimits: SimulatedRateLimits | null = null): Promise<RecordFields[]> {
  const sink = memorySink()
  const pipeline = new RequestPipeline({ runtime: () => rt, policy: () => policy, services, records: sink, metrics: new Metrics({ processMetrics: false }), logger: silentLogger, interceptor: () => null, rateLimits })
  const rawHeaders = Object.entries(line.headers ?? {}).flat()
  if (taskId !== null) rawHeaders.push('toolgate-task', taskId)
  if (line.method.toUpperCase() === 'CONNECT') {
    // A tunnel: CONNECT on the proxy listener, or a transparent TLS connection (url = SNI:443).
    await pipeline.tunnel({ via: line.via === 'transparent' ? 'transparent' : 'connect', authority: line.url, rawHeaders }, dryRunTunnelClient(), { dryRun: true })
    return sink.records
  }
  const via: Via = line.via ?? (line.url.startsWith('/') ? 'route' : 'forward')
  const { req, res } = dryRunExchange({ method: line.method, url: line.url, rawHeaders, body: line.body !== undefined ? Buffer.from(line.body) : null })
  // Checked by parseDecideLine with the same parser.
  const parsedTunnel = line.tunnel !== undefined ? parseAuthority(line.tunnel, '"tunnel"') : null
  const tunnel = parsedTunnel?.ok && parsedTunnel.port !== null ? { host: parsedTunnel.host, port: parsedTunnel.port } : null
  await pipeline.run(req, res, {
    via,
    dryRun: true,
    ...(via === 'transparent' ? { redirectedPort: 80 } : {}),
    ...(via === 'intercepted' && tunnel ? { tunnelAuthority: { ...tunnel, scheme: 'https' as const } } : {}),
  })
  return sink.records
}

/**
 * Stand-ins for the services a running sidecar has, so the dry run takes the same branches: a
 * configured provider or approvals section is "there" (nothing is issued or asked), an absent
 * one is not, exactly as at run time.
 */
function dryServices(config: Runtime['config']): { credentials: CredentialService | null; approvals: ApprovalService | null } {
  const credentials: CredentialService | null = Object.keys(config.credentials ?? {}).length > 0
    ? { obtain: async () => ({ ok: false, status: 503, reason: 'dry run' }), inject: (h) => h }
    : null
  const approvals: ApprovalService | null = config.approvals !== undefined ? { request: async () => ({ approved: false, reason: 'dry run' }) } : null
  return { credentials, approvals }
}

export const decideCommand: Command = {
  summary: 'print the decision for request descriptions (METHOD URL lines or JSON) without sending anything',
  usage: USAGE,
  async run(argv) {
    const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' }, input: { type: 'string', short: 'i' }, json: { type: 'boolean' } })
    const config = await loadConfigOrReport(values.config)
    if (config === null) return 1

    const metrics = new Metrics({ processMetrics: false })
    const { PolicyEngine } = await import('../decide/policy/engine.ts')
    const { policyEngineOptions } = await import('../decide/policy/options.ts')
    const policy = await PolicyEngine.start(policyEngineOptions(config.policy, metrics.registry, silentLogger))
    const runtime = buildRuntime(config)
    const services = dryServices(config)
    // Local limits are simulated across the lines of this run (decide-rate-limits.ts).
    const rateLimits = config.rate_limits ? new SimulatedRateLimits(config.rate_limits) : null
    const text = values.input ? await readFile(values.input, 'utf8') : await readStdin()
    let denied = 0
    const fail = (line: string, error: string): void => {
      process.stdout.write(values.json ? jsonLine({ input: line, error }) : `? ${line}\n    error: ${error}\n`)
      denied++
    }
    for (const line of text.split('\n')) {
      if (line.trim() === '' || line.trim().startsWith('#')) continue
      const parsed = parseDecideLine(line)
      if ('error' in parsed) { fail(line, parsed.error); continue }
      const simulated = simulatedTasks(parsed.task, config.tasks)
      if (simulated && 'error' in simulated) { fail(line, simulated.error); continue }
      let records: RecordFields[]
      try {
        records = await dryRun(runtime, policy, parsed, { tasks: simulated?.tasks ?? null, ...services }, simulated?.id ?? null, rateLimits)
      } finally {
        simulated?.tasks.close()
      }
      for (const r of records) {
        const label = String(r['decision'])
        if (label !== 'allow') denied++
        const tool = (r['tool'] as string | null | undefined) ?? null
        const credential = tool !== null ? config.tools.find((t) => t.name === tool)?.credential?.provider ?? null : null
        const mcp = (r['mcp'] as { method: string; tool: string | null } | null | undefined) ?? null
        const limits = rateLimits && typeof r['id'] === 'string' ? rateLimits.limitsOf(r['id']) : null
        const out = { input: parsed, decision: label, tool, route: r['route'] ?? null, access: r['access'] ?? null, mcp, stage: r['stage'] ?? null, status: r['status'] ?? null, reasons: r['reasons'], error: r['error'] ?? null, policy_revision: r['policy_revision'] ?? null, approval: r['approval'] ?? null, credential_provider: label === 'allow' ? credential : null, rate_limits: limits === null ? null : { local: limits.local, global_not_simulated: limits.globalNotSimulated } }
        if (values.json) { process.stdout.write(jsonLine(out)); continue }
        process.stdout.write(`${label.toUpperCase()} ${parsed.method} ${parsed.url}${mcp ? `  (MCP ${mcp.method}${mcp.tool ? ` ${mcp.tool}` : ''})` : ''}\n`)
        process.stdout.write(`    tool: ${tool ?? '(none)'}${out.route ? `  route: ${String(out.route)}` : ''}${out.access ? `  access: ${String(out.access)}` : ''}\n`)
        if (out.stage) process.stdout.write(`    decided by: ${String(out.stage)}\n`)
        for (const reason of (out.reasons as string[] | undefined) ?? []) process.stdout.write(`    reason: ${reason}\n`)
        if (out.error) process.stdout.write(`    error: ${String(out.error)}\n`)
        if (out.approval) process.stdout.write(`    approval required: ${(out.approval as { reason: string }).reason}\n`)
        if (out.credential_provider) process.stdout.write(`    credential from: ${out.credential_provider}\n`)
        for (const l of SimulatedRateLimits.describe(limits, label === 'allow')) process.stdout.write(`    ${l}\n`)
      }
    }
    rateLimits?.close()
    await policy.close()
    await runtime.pools.close()
    return denied > 0 ? 3 : 0
  },
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
