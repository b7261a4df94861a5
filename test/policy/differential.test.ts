// Differential test of the default policy: for a generated corpus of inputs covering every rule,
// the decision of the committed WASM bundle evaluated in process equals `opa eval` of the Rego
// sources (policy/src) with the same input and data. Batched: one `opa eval` per configuration
// evaluates the whole corpus through a helper rule, so the test runs in seconds.

import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { PolicyEngine } from '../../proxy/src/decide/policy/engine.ts'
import { silentLogger } from '../../proxy/src/record/log.ts'
import type { PolicyInput } from '../../proxy/src/decide/policy-input.ts'
import { repoRoot } from '../helpers/tools.ts'
import { baseInput, opaEval, tempDir } from './helpers.ts'

function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = Math.imul(a ^ (a >>> 15), 1 | a)
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

const NOW_MS = Date.UTC(2026, 2, 14, 15, 9, 26, 535)

function corpus(n: number, seed: number): PolicyInput[] {
  const rnd = prng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T
  const tools = ['github', 'slack', 'jira', 'search'] as const
  const expiries = [
    new Date(NOW_MS + 3_600_000).toISOString(), new Date(NOW_MS - 1000).toISOString(),
    '2026-03-14T15:09:26.535000001Z', '2026-03-14T15:09:26.534999999Z', // a nanosecond either side of now
    '2026-03-14T16:09:26+01:00', '2026-03-14T16:10:00+01:00', '2026-03-14T10:00:00-05:00', '2026-03-14T11:00:00-05:00',
    'not a time', '2026-02-30T00:00:00Z', '2026-03-14 16:00:00Z', '2026-03-14T25:00:00Z', '2099-12-31T23:59:59.999999999Z',
  ]
  const out: PolicyInput[] = []
  for (let i = 0; i < n; i++) {
    const name = pick(tools)
    const hasTask = rnd() < 0.7
    const mcpTool = rnd() < 0.3 ? pick(['post_message', 'delete_channel', 'create_issue', null]) : undefined
    const declared = [...new Set([pick(['github', 'slack/post_message', 'jira/create_issue', 'search']), ...(rnd() < 0.5 ? [pick(tools)] : [])])]
    const agent = pick([
      { namespace: 'agents', service_account: 'research' },
      { namespace: 'agents', service_account: 'ops' },
      { namespace: 'finance', service_account: 'bot' },
      { namespace: null, service_account: null },
    ])
    const labels: Record<string, string> = rnd() < 0.3 ? { 'toolgate.dev/scope': pick(['repo:read', 'a  b c', '', 'chat:write']) } : {}
    out.push(baseInput({
      version: rnd() < 0.05 ? 2 : 1,
      agent: { ...agent, pod: 'p-0', spiffe_id: null, labels: {} },
      task: hasTask
        ? {
          id: `task-${i}`,
          intent: 'generated',
          declared_tools: declared,
          started_at: new Date(NOW_MS - 60_000).toISOString(),
          expires_at: pick(expiries),
          calls: pick([0, 5, 999, 1000, 1001, 4999, 5000]),
        }
        : null,
      tool: {
        name,
        access: pick(['read', 'read', 'write', 'execute', 'delegate'] as const),
        data_classification: pick(['public', 'internal', 'confidential', 'restricted', null, 'secret'] as const) as PolicyInput['tool']['data_classification'],
        labels,
        route: null,
        captures: {},
      },
      mcp: mcpTool === undefined ? null : { method: 'tools/call', tool: mcpTool, arguments: { q: i } },
      time: { now: new Date(NOW_MS).toISOString(), now_ns: NOW_MS * 1e6 },
    }))
  }
  return out
}

const CONFIGS: Array<{ name: string; data: Record<string, unknown> | undefined }> = [
  { name: 'defaults', data: undefined },
  {
    name: 'operator settings',
    data: {
      undeclared_tool: 'approval',
      max_task_calls: 5000,
      approval_for_access: ['delegate', 'execute'],
      classification_ceiling: { namespaces: { finance: 'restricted' }, service_accounts: { 'agents/ops': 'public' } },
      credential_ttl_s: { write: 60 },
    },
  },
]

// Every reason the default policy can give, as patterns: the corpus must produce each one.
const REASON_PATTERNS = [
  /^policy input version is not supported/, /^\w+ access to tool \w+ needs a task that declares it$/,
  /^tool \w+ is not among the tools task/, /has no valid expires_at$/, /has expired$/, /has used its budget of \d+ calls$/,
  /data, above this agent's classification ceiling$/, /^\w+ access without a task$/, /^tool \w+ declared by task/,
  /^undeclared tool allowed pending approval$/,
]

t.test('WASM decisions equal opa eval of the Rego sources', async (t) => {
  const dir = tempDir(t)
  const inputs = corpus(400, 20260314)
  const helper = join(dir, 'difftest.rego')
  writeFileSync(helper, [
    'package difftest',
    'import data.toolgate',
    'plain := [d | some inp in input.cases; d := toolgate.decision with input as inp]',
    'configured := [d | some inp in input.cases; d := toolgate.decision with input as inp with data.toolgate_config as input.config]',
  ].join('\n'))
  const seen = new Set<number>()
  let approvals = 0
  let scoped = 0
  for (const cfg of CONFIGS) {
    const engine = await PolicyEngine.start({
      source: { kind: 'file', path: join(repoRoot, 'policy', 'default-bundle.tar.gz') },
      entrypoint: 'toolgate/decision', registry: new Registry(), logger: silentLogger,
      ...(cfg.data ? { extraData: cfg.data } : {}),
    })
    t.teardown(() => engine.close())
    t.ok(engine.readiness().ready, `${cfg.name}: bundle loaded`)
    const query = cfg.data ? 'data.difftest.configured' : 'data.difftest.plain'
    const expected = opaEval(query, [join(repoRoot, 'policy', 'src'), helper], { cases: inputs, config: cfg.data ?? {} }, dir) as unknown[]
    t.equal(expected.length, inputs.length, `${cfg.name}: opa eval decided every input`)
    let mismatches = 0
    inputs.forEach((input, i) => {
      const got = engine.evaluate(input)
      if (!got.ok) {
        mismatches++
        if (mismatches <= 3) t.fail(`${cfg.name} #${i}: WASM evaluation failed: ${got.error}`)
        return
      }
      if (JSON.stringify(got.result) !== JSON.stringify(sortKeys(expected[i]))) {
        mismatches++
        if (mismatches <= 3) t.same(got.result, expected[i], `${cfg.name} #${i}: ${JSON.stringify(input)}`)
      }
      for (const r of got.result.reasons) REASON_PATTERNS.forEach((p, k) => p.test(r) && seen.add(k))
      if (got.result.approval) approvals++
      if (got.result.credential?.scope) scoped++
    })
    t.equal(mismatches, 0, `${cfg.name}: ${inputs.length} decisions identical`)
  }
  t.same([...REASON_PATTERNS.keys()].filter((k) => !seen.has(k)).map((k) => String(REASON_PATTERNS[k])), [], 'the corpus exercised every rule')
  t.ok(approvals > 0, 'approval results were compared')
  t.ok(scoped > 0, 'credential scope narrowing was compared')
})

/** Same key order as the engine's result (allow, reasons, approval, credential) for a byte comparison. */
function sortKeys(v: unknown): unknown {
  const r = v as Record<string, unknown>
  const out: Record<string, unknown> = { allow: r['allow'], reasons: r['reasons'] }
  if (r['approval'] !== undefined) out['approval'] = r['approval']
  if (r['credential'] !== undefined) {
    const c = r['credential'] as Record<string, unknown>
    const cc: Record<string, unknown> = {}
    for (const k of ['scope', 'audience', 'ttl_s']) if (c[k] !== undefined) cc[k] = c[k]
    out['credential'] = cc
  }
  return out
}
