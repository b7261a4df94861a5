// decide/deny.ts is the one builder of a Decision and owns the report-mode rule. Property-based:
// for any stage, mode, reasons and earlier decision, deny() never lets through a refusal by a
// stage report mode does not relax, always lets through (in report mode) what it does relax,
// keeps the earlier decision's policy revision unless told otherwise, and bounds the reasons.
import t from 'tap'
import fc from 'fast-check'
import { allow, batchDecision, deny, REPORT_RELAXES } from '../../proxy/src/decide/deny.ts'
import type { DecisionStage } from '../../proxy/src/decide/decision.ts'

const stages: DecisionStage[] = ['parse', 'allowlist', 'route', 'destination', 'task', 'policy', 'approval', 'credential', 'internal', 'rate_limit']
const stage = fc.constantFrom(...stages)
const mode = fc.constantFrom('enforce' as const, 'report' as const)
const reasons = fc.array(fc.string({ maxLength: 700 }), { maxLength: 30 })

t.test('report mode relaxes exactly the allowlist, task, policy and rate_limit stages', async (t) => {
  t.same([...REPORT_RELAXES].sort(), ['allowlist', 'policy', 'rate_limit', 'task'])
  fc.assert(fc.property(stage, mode, reasons, fc.string(), (s, m, r, id) => {
    const d = deny({ id, mode: m }, s, r)
    if (d.allow) return false
    if (d.stage !== s || d.mode !== m || d.id !== id) return false
    return d.pass === (m === 'report' && REPORT_RELAXES.has(s))
  }), { numRuns: 2000 })
})

t.test('a later refusal never turns a refusal into a pass, and keeps what the policy said', async (t) => {
  fc.assert(fc.property(stage, stage, mode, reasons, fc.option(fc.string(), { nil: null }), (first, later, m, r, revision) => {
    const allowed = allow({ id: 'x', mode: m }, ['ok'], { policyRevision: revision })
    const d1 = deny(allowed, first, r)
    const d2 = deny(d1, later, ['again'])
    if (d2.policyRevision !== revision || d1.policyRevision !== revision) return false
    // Only the stage of the last refusal decides whether it passes.
    return d2.pass === (m === 'report' && REPORT_RELAXES.has(later)) && !d2.allow
  }), { numRuns: 2000 })
})

t.test('reasons are bounded (16, each 512 characters)', async (t) => {
  fc.assert(fc.property(stage, reasons, (s, r) => {
    const d = deny({ id: 'x', mode: 'enforce' }, s, r)
    return d.reasons.length <= 16 && d.reasons.every((x) => x.length <= 512) && d.reasons.length === Math.min(16, r.length)
  }))
})

t.test('a batch passes under its first refusal, or is allowed asking for any approval', async (t) => {
  const a = allow({ id: 'a', mode: 'report' }, ['a'])
  const b = allow({ id: 'b', mode: 'report' }, ['b'], { approval: { reason: 'ask' } })
  const c = deny({ id: 'c', mode: 'report' }, 'policy', ['no'])
  t.match(batchDecision([a, b]), { id: 'a', allow: true, approval: { reason: 'ask' } })
  t.match(batchDecision([a, c, b]), { id: 'c', allow: false, pass: true, stage: 'policy' })
})
