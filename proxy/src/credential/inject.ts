// Puts a credential on the upstream request. Whatever the agent sent in the credential's header,
// and any Cookie or Proxy-Authorization, is removed first: the only authentication that leaves
// the sidecar is the one toolgate chose for this call. Header names compare case-insensitively.

import type { Credential } from './credential.ts'

const ALWAYS_REMOVED = new Set(['cookie', 'proxy-authorization'])

export function injectCredential(headers: [string, string][], cred: Credential): [string, string][] {
  const name = cred.header.toLowerCase()
  const out = headers.filter(([h]) => {
    const lower = h.toLowerCase()
    return lower !== name && !ALWAYS_REMOVED.has(lower)
  })
  out.push([cred.header, cred.value])
  return out
}

/** Header value from a per-tool template ('Bearer {token}' by default). */
export function renderTemplate(template: string | undefined, token: string): string {
  return (template ?? 'Bearer {token}').replaceAll('{token}', token)
}
