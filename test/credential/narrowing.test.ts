// Property tests of the pure pieces the broker composes: the narrowing rule (decide/) and header
// rendering (credential/inject.ts). Thousands of generated inputs, including hostile ones (a
// policy trying to widen scopes, scope lists with spaces, tokens with line breaks).

import t from 'tap'
import fc from 'fast-check'
import { narrowCredential } from '../../proxy/src/decide/credential-narrowing.ts'
import { injectCredential, renderCredential } from '../../proxy/src/credential/inject.ts'

const scopeToken = fc.stringMatching(/^[\x21\x23-\x5b\x5d-\x7e]{1,12}$/)
const anyScope = fc.oneof(scopeToken, fc.string({ maxLength: 12 }))
const now = 1_700_000_000_000

t.test('narrowing never widens, never outlives the task or the policy TTL, and is deterministic', async (t) => {
  fc.assert(fc.property(
    fc.array(scopeToken, { maxLength: 6 }),
    fc.option(fc.array(scopeToken, { maxLength: 6 }), { nil: undefined }),
    fc.option(fc.integer({ min: 1, max: 86_400 }), { nil: undefined }),
    fc.option(fc.integer({ min: now - 10_000, max: now + 86_400_000 }), { nil: null }),
    fc.option(fc.webUrl(), { nil: undefined }),
    (configured, asked, ttl, taskEnd, policyAudience) => {
      const narrowing = asked === undefined && ttl === undefined && policyAudience === undefined ? null : { ...(asked ? { scope: asked } : {}), ...(ttl ? { ttl_s: ttl } : {}), ...(policyAudience ? { audience: policyAudience } : {}) }
      const input = { configuredScopes: configured, audience: 'https://tool', resource: null, narrowing, taskExpiresAt: taskEnd, now }
      const r = narrowCredential(input)
      if (JSON.stringify(narrowCredential(input)) !== JSON.stringify(r)) return false
      if (!r.ok) {
        // Refused only when the policy asked for scopes and none remain: none of the configured
        // ones, or (nothing configured) an empty list.
        return asked !== undefined && (configured.length > 0 ? !configured.some((s) => asked.includes(s)) : asked.length === 0)
      }
      const { scopes, notAfter, audience } = r.shape
      if (configured.length > 0 && !scopes.every((s) => configured.includes(s))) return false
      if (asked !== undefined && !scopes.every((s) => asked.includes(s))) return false
      if (asked === undefined && new Set(configured).size !== scopes.length) return false
      if ([...scopes].sort().join(' ') !== scopes.join(' ') || new Set(scopes).size !== scopes.length) return false
      if (taskEnd !== null && (notAfter === null || notAfter > taskEnd)) return false
      if (ttl !== undefined && (notAfter === null || notAfter > now + ttl * 1000)) return false
      if (taskEnd === null && ttl === undefined && notAfter !== null) return false
      return audience === (policyAudience ?? 'https://tool')
    },
  ), { numRuns: 3000 })
})

t.test('a scope that is not one RFC 6749 scope-token is refused, wherever it comes from', async (t) => {
  fc.assert(fc.property(fc.array(anyScope, { maxLength: 5 }), fc.array(anyScope, { maxLength: 5 }), (configured, asked) => {
    const r = narrowCredential({ configuredScopes: configured, audience: null, resource: null, narrowing: { scope: asked }, taskExpiresAt: null, now })
    const valid = (s: string) => /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)
    const allValid = configured.every(valid) && asked.every(valid)
    if (!allValid) return !r.ok && /not a single OAuth scope token/.test(r.reason)
    return !r.ok || r.shape.scopes.every(valid)
  }), { numRuns: 3000 })
  t.match(narrowCredential({ configuredScopes: [], audience: null, resource: null, narrowing: { scope: ['read write'] }, taskExpiresAt: null, now }), { ok: false, reason: /"read write" is not a single OAuth scope token/ }, 'a space would have become two scopes')
})

t.test('rendering: a value that could split a header is refused; injection leaves exactly one credential header', async (t) => {
  const dollar = renderCredential({ provider: 'p' }, { provider: 'p', issuanceId: 'i', expiresAt: 0, token: "a$&b$'c$`d" })
  t.match(dollar, { ok: true, credential: { value: "Bearer a$&b$'c$`d" } }, 'replacement patterns in a secret are not expanded')
  const headerName = fc.constantFrom('Authorization', 'X-Api-Key', 'x-token')
  const agentHeader = fc.tuple(fc.constantFrom('authorization', 'AUTHORIZATION', 'x-api-key', 'X-Token', 'cookie', 'Cookie', 'proxy-authorization', 'accept', 'x-other'), fc.string({ maxLength: 20 }))
  fc.assert(fc.property(fc.string({ maxLength: 40 }), fc.option(fc.constantFrom('Bearer {token}', '{token}', 'Token {token} {token}'), { nil: undefined }), headerName, fc.array(agentHeader, { maxLength: 8 }), (token, template, header, agentHeaders) => {
    const r = renderCredential({ provider: 'p', header, ...(template ? { template } : {}) }, { provider: 'p', issuanceId: 'i', expiresAt: 0, token })
    const unsafe = /[\x00-\x08\x0a-\x1f\x7f]/.test(token)
    if (unsafe) return !r.ok && !r.reason.includes(token)
    if (!r.ok) return false
    const out = injectCredential(agentHeaders, r.credential)
    const same = out.filter(([h]) => h.toLowerCase() === header.toLowerCase())
    return same.length === 1 && same[0]![1] === r.credential.value && r.credential.value.includes(token) &&
      !out.some(([h]) => ['cookie', 'proxy-authorization'].includes(h.toLowerCase()))
  }), { numRuns: 3000 })
})
