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
import { repoRoot } from '../helpers/tools.ts'
import { opaEval, tempDir } from './helpers.ts'
import { corpus } from './corpus.ts'

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
