// `toolgate decide --config FILE`: reads request descriptions and prints what toolgate would
// decide for each, with the matched tool and route and the reasons, without sending anything.
// Input lines are `METHOD URL` or JSON objects {"method","url","headers"?,"task"?}; a JSON task
// {"intent","tools":[...],"source"?} simulates a call made inside such a task: by default a task
// from a verified grant (source "issuer"), with "source":"agent" an agent-declared one.

import { readFile } from 'node:fs/promises'
import { randomUUID } from 'node:crypto'
import { parseFlags, type Command } from './command.ts'
import { loadConfigOrReport } from './load-config.ts'
import { classify } from '../classify/request.ts'
import { RequestPipeline } from '../listen/pipeline.ts'
import { buildRuntime } from '../listen/runtime.ts'
import { Metrics } from '../record/metrics.ts'
import { memorySink } from '../record/records.ts'
import { silentLogger } from '../record/log.ts'
import { decisionLabel } from '../record/decision-record.ts'
import { TaskRegistry } from '../tasks/registry.ts'

const USAGE = `usage: toolgate decide [--config FILE] [--input FILE] [--json]

Reads request descriptions (from --input or standard input), one per line:
  GET https://api.github.com/repos/acme/app/issues
  {"method":"POST","url":"https://api.github.com/repos/acme/app/issues","task":{"intent":"triage","tools":["github"]}}
(a "task" is simulated as one from a verified grant; add "source":"agent" for an agent-declared one)
and prints, for each, the decision, the matched tool and route, and the reasons. Sends nothing.

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
}

export function parseDecideLine(line: string): DecideLine | { error: string } {
  const text = line.trim()
  if (text.startsWith('{')) {
    try {
      const v = JSON.parse(text) as DecideLine
      if (typeof v.method !== 'string' || typeof v.url !== 'string') return { error: 'JSON input needs string "method" and "url"' }
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
function simulatedTasks(task: DecideLine['task']): { tasks: TaskRegistry; id: string } | { error: string } | null {
  if (!task) return null
  const tasks = new TaskRegistry({ defaultTtlS: 3600, maxTtlS: 86_400, maxTasks: 1, sweepMs: 3_600_000 })
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
    const text = values.input ? await readFile(values.input, 'utf8') : await readStdin()
    let denied = 0
    for (const line of text.split('\n')) {
      if (line.trim() === '' || line.trim().startsWith('#')) continue
      const parsed = parseDecideLine(line)
      if ('error' in parsed) {
        process.stdout.write(values.json ? JSON.stringify({ input: line, error: parsed.error }) + '\n' : `? ${line}\n    error: ${parsed.error}\n`)
        denied++
        continue
      }
      const simulated = simulatedTasks(parsed.task)
      if (simulated && 'error' in simulated) {
        process.stdout.write(values.json ? JSON.stringify({ input: line, error: simulated.error }) + '\n' : `? ${line}\n    error: ${simulated.error}\n`)
        denied++
        continue
      }
      const pipeline = new RequestPipeline({ runtime: () => runtime, policy: () => policy, services: { tasks: simulated?.tasks ?? null, credentials: null, approvals: null }, records: memorySink(), metrics, logger: silentLogger })
      const rawHeaders = Object.entries(parsed.headers ?? {}).flat()
      if (simulated) rawHeaders.push('toolgate-task', simulated.id)
      const c = classify({ via: 'forward', method: parsed.method, url: parsed.url, rawHeaders }, { allowlist: runtime.allowlist, newId: randomUUID, maxHeaderBytes: config.limits.max_header_bytes })
      if (!c.ok) {
        simulated?.tasks.close()
        denied++
        process.stdout.write(values.json ? JSON.stringify({ input: parsed, decision: 'deny', stage: 'parse', status: c.status, reasons: [c.reason] }) + '\n' : `DENY ${parsed.method} ${parsed.url}\n    stage: parse (${c.status})\n    reason: ${c.reason}\n`)
        continue
      }
      const d = pipeline.decideCall(c.call, c.tool, c.routeMatch, runtime)
      simulated?.tasks.close()
      const label = decisionLabel(d)
      if (!d.allow) denied++
      const out = { input: parsed, decision: label, tool: c.call.tool, route: c.call.route?.pattern ?? null, access: c.call.access, stage: d.stage, reasons: d.reasons, error: d.error, policy_revision: d.policyRevision, approval: d.approval, credential: d.credential }
      if (values.json) process.stdout.write(JSON.stringify(out) + '\n')
      else {
        process.stdout.write(`${label.toUpperCase()} ${parsed.method} ${parsed.url}\n`)
        process.stdout.write(`    tool: ${c.call.tool ?? '(none)'}${c.call.route ? `  route: ${c.call.route.pattern}` : ''}${c.call.access ? `  access: ${c.call.access}` : ''}\n`)
        if (d.stage) process.stdout.write(`    decided by: ${d.stage}\n`)
        for (const r of d.reasons) process.stdout.write(`    reason: ${r}\n`)
        if (d.error) process.stdout.write(`    error: ${d.error}\n`)
        if (d.approval) process.stdout.write(`    approval required: ${d.approval.reason}\n`)
      }
    }
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
