// What the credential cache holds. One Issued is one token from a provider, with the decisions
// it served; one CacheEntry is the credential of one cache key: the issuance it serves now and,
// after a background refresh, the one it replaced (still valid at the issuer until revoked).

import type { CredentialShape } from '../decide/credential-narrowing.ts'
import type { BuiltProvider } from './providers/build.ts'
import type { IssuedToken } from './providers/provider.ts'

/** Decision ids kept per issuance (the count goes on). */
export const MAX_DECISION_IDS = 1000
const MAX_SKEW_MS = 30_000
const REFRESH_AT = 0.8

export interface Issued {
  issuanceId: string
  token: IssuedToken
  issuedAt: number
  /** Effective expiry: min(issuer expiry, task end, policy TTL). */
  expiresAt: number
  decisionIds: string[]
  decisionCount: number
  /** Set once its revocation (or expiry record) has been written: never twice. */
  retired: boolean
  /** A refresh moved it into the new entry's `previous`: replacing the old entry must not retire it. */
  carried: boolean
}

export interface CacheEntry {
  key: string
  providerName: string
  provider: BuiltProvider
  taskId: string | null
  tool: string
  shape: CredentialShape
  current: Issued
  previous: Issued | null
}

/** Still served: until its expiry minus a skew (10% of its life, at most 30 s). */
export function usable(i: Issued, now: number): boolean {
  return now < i.expiresAt - Math.min(MAX_SKEW_MS, (i.expiresAt - i.issuedAt) * 0.1)
}

/** From 80% of its life a background refresh replaces it while it keeps serving. */
export function refreshDue(i: Issued, now: number): boolean {
  return now >= i.issuedAt + (i.expiresAt - i.issuedAt) * REFRESH_AT
}

/** Counts a decision served by the issuance (ids kept up to MAX_DECISION_IDS). */
export function served(i: Issued, decisionId: string): void {
  i.decisionCount += 1
  if (i.decisionIds.length < MAX_DECISION_IDS) i.decisionIds.push(decisionId)
}

/** Counts the decisions that waited for the fetch of the issuance. */
export function servedAll(i: Issued, decisionIds: readonly string[], count: number): void {
  i.decisionCount += count
  for (const id of decisionIds) {
    if (i.decisionIds.length >= MAX_DECISION_IDS) break
    i.decisionIds.push(id)
  }
}
