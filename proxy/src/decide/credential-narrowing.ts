// The narrowing rule: what a tool's credential may carry once the policy has spoken. Pure (no
// clock, no I/O), so decide/ owns it and the broker only applies its result.
//
// - scope: the policy may remove scopes, never add them. With scopes configured for the tool (or
//   its provider), only those the policy also names remain; narrowing to none is refused. With
//   none configured the policy's list is used as is (the issuer's defaults would otherwise apply).
// - audience: the policy's replaces the tool's.
// - lifetime: never past the task's end nor past now + the policy's ttl_s.
// Every scope must be one RFC 6749 §3.3 scope-token: a space would silently turn one entry into
// two scopes in the `scope` parameter, so such a list is refused rather than guessed.

import type { CredentialNarrowing } from './decision.ts'

export interface NarrowingInput {
  /** Scopes configured for the tool, else its provider's (may be empty). */
  configuredScopes: readonly string[]
  /** The tool's configured audience and resource (RFC 8707). */
  audience: string | null
  resource: string | null
  /** The policy result's credential narrowing, if any. */
  narrowing: CredentialNarrowing | null
  /** Epoch ms the task ends; null without a task. */
  taskExpiresAt: number | null
  now: number
}

/** What the credential is requested with. Scopes sorted and unique (they are part of the cache key). */
export interface CredentialShape {
  audience: string | null
  resource: string | null
  scopes: string[]
  /** Epoch ms the credential must not outlive; null when nothing bounds it. */
  notAfter: number | null
}

export type Narrowed = { ok: true; shape: CredentialShape } | { ok: false; reason: string }

const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/

export function narrowCredential(input: NarrowingInput): Narrowed {
  const n = input.narrowing
  const bad = firstBadScope(input.configuredScopes) ?? (n?.scope ? firstBadScope(n.scope) : undefined)
  if (bad !== undefined) return { ok: false, reason: `credential scope ${JSON.stringify(bad.slice(0, 64))} is not a single OAuth scope token` }
  let scopes = [...new Set(input.configuredScopes)].sort()
  if (n?.scope) {
    const asked = new Set(n.scope)
    scopes = scopes.length > 0 ? scopes.filter((s) => asked.has(s)) : [...asked].sort()
    if (scopes.length === 0) return { ok: false, reason: 'the policy narrowed the credential to no scope the tool is configured for' }
  }
  let notAfter = input.taskExpiresAt
  if (n?.ttl_s !== undefined) {
    // result.ts admits positive integers only; anything else here is a programming error: refuse.
    if (!Number.isFinite(n.ttl_s) || n.ttl_s <= 0) return { ok: false, reason: 'the policy gave a credential ttl_s that is not a positive number' }
    const limit = input.now + n.ttl_s * 1000
    notAfter = notAfter === null ? limit : Math.min(notAfter, limit)
  }
  return { ok: true, shape: { audience: n?.audience ?? input.audience, resource: input.resource, scopes, notAfter } }
}

function firstBadScope(scopes: readonly string[]): string | undefined {
  for (const s of scopes) if (!SCOPE_TOKEN.test(s)) return s
  return undefined
}
