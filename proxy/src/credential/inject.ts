// Header rendering: turns an issued token into the header the upstream request carries, and puts
// it on the request. Whatever the agent sent in the credential's header, and any Cookie or
// Proxy-Authorization, is removed first: the only authentication that leaves the sidecar is the
// one toolgate chose for this call. Header names compare case-insensitively.

import type { ToolCredential } from '../config/schema.gen.ts'
import type { Credential } from './credential.ts'

const ALWAYS_REMOVED = new Set(['cookie', 'proxy-authorization'])
/** A line break or other control character would split or corrupt the header. */
const UNSAFE_HEADER_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/

export function injectCredential(headers: [string, string][], cred: Credential): [string, string][] {
  const name = cred.header.toLowerCase()
  const out = headers.filter(([h]) => {
    const lower = h.toLowerCase()
    return lower !== name && !ALWAYS_REMOVED.has(lower)
  })
  out.push([cred.header, cred.value])
  return out
}

/**
 * Header value from a per-tool template ('Bearer {token}' by default). The token is inserted
 * verbatim: a replacement *string* would expand `$&`, `$'` and `` $` `` inside a secret.
 */
export function renderTemplate(template: string | undefined, token: string): string {
  return (template ?? 'Bearer {token}').replaceAll('{token}', () => token)
}

export interface Issuance {
  provider: string
  issuanceId: string
  expiresAt: number
  token: string
}

/** The Credential for one call of a tool, or why its token cannot be sent in a header. */
export function renderCredential(tc: ToolCredential, issued: Issuance): { ok: true; credential: Credential } | { ok: false; reason: string } {
  const value = renderTemplate(tc.template, issued.token)
  if (UNSAFE_HEADER_VALUE.test(value)) return { ok: false, reason: `credential provider "${issued.provider}" produced a value that cannot be sent in a header` }
  return { ok: true, credential: { provider: issued.provider, issuanceId: issued.issuanceId, expiresAt: issued.expiresAt, header: tc.header ?? 'Authorization', value } }
}
