// Checks what the WASM module returned for the entrypoint and turns it into a PolicyResult, or
// says why it is not one. The module returns a result set: [] when the entrypoint is undefined,
// [{result: value}] otherwise. Undefined, several results, or a value that is not exactly the
// documented shape all deny. Unknown extra keys are ignored (a newer policy may add some).

import type { PolicyResult } from '../policy-input.ts'

const MAX_REASONS = 64
const MAX_SCOPES = 64

type Checked = { ok: true; result: PolicyResult } | { ok: false; error: string }

const bad = (why: string): Checked => ({ ok: false, error: `malformed policy result: ${why}` })
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

export function validatePolicyResult(resultSet: unknown): Checked {
  if (!Array.isArray(resultSet)) return bad('the module did not return a result set')
  if (resultSet.length === 0) return { ok: false, error: 'policy result is undefined (the entrypoint produced no value)' }
  if (resultSet.length > 1) return bad('the entrypoint produced several values')
  const first: unknown = resultSet[0]
  if (!isObject(first) || !('result' in first)) return bad('the result set entry has no result')
  const r = first['result']
  if (!isObject(r)) return bad('not an object')
  if (typeof r['allow'] !== 'boolean') return bad('allow is not a boolean')
  const reasons = r['reasons']
  if (!Array.isArray(reasons) || !reasons.every((x) => typeof x === 'string')) return bad('reasons is not a list of strings')
  const result: PolicyResult = { allow: r['allow'], reasons: (reasons as string[]).slice(0, MAX_REASONS) }

  if (r['approval'] !== undefined) {
    const a = r['approval']
    if (!isObject(a) || typeof a['reason'] !== 'string') return bad('approval needs a reason string')
    result.approval = { reason: a['reason'] }
  }
  if (r['credential'] !== undefined) {
    const c = r['credential']
    if (!isObject(c)) return bad('credential is not an object')
    const credential: NonNullable<PolicyResult['credential']> = {}
    if (c['scope'] !== undefined) {
      if (!Array.isArray(c['scope']) || !c['scope'].every((s) => typeof s === 'string') || c['scope'].length > MAX_SCOPES) {
        return bad('credential.scope is not a list of strings')
      }
      credential.scope = c['scope'] as string[]
    }
    if (c['audience'] !== undefined) {
      if (typeof c['audience'] !== 'string') return bad('credential.audience is not a string')
      credential.audience = c['audience']
    }
    if (c['ttl_s'] !== undefined) {
      const ttl = c['ttl_s']
      if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl <= 0) return bad('credential.ttl_s is not a positive integer')
      credential.ttl_s = ttl
    }
    result.credential = credential
  }
  return { ok: true, result }
}
