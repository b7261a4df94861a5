// Verifies a JWT from one of a set of trusted issuers and says precisely why it is refused:
// malformed, unsigned (alg none), symmetric alg (HS/RS confusion), unknown issuer, alg not
// accepted from that issuer, no key for its kid, bad signature, expired, not yet valid, wrong
// audience or type, a missing claim. The unverified `iss` only selects which issuer's keys to
// try; every claim that matters is read after jose has verified the signature. Reasons never
// contain the token, and quote claim values cut short.

import type { JWTPayload, ProtectedHeaderParameters } from 'jose'
import { ASYMMETRIC_ALGS, keySource, type KeySource, type KeySourceConfig } from './keys.ts'
import { loadJose } from './jose-lazy.ts'

/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_CHARS = 8192
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/
/** Clock skew tolerated on exp, nbf and iat. */
export const CLOCK_TOLERANCE_S = 5

export interface TrustedIssuer {
  /** Config name (records and reasons say this). */
  name: string
  /** The exact iss claim. */
  issuer: string
  algorithms: string[]
  key: KeySource
}

export function trustedIssuer(c: KeySourceConfig & { name: string }, configDir: string): TrustedIssuer {
  return { name: c.name, issuer: c.issuer, algorithms: c.algorithms ?? [...ASYMMETRIC_ALGS], key: keySource(c, configDir) }
}

export interface VerifyOptions {
  /** What the token is, for reasons ("task grant", "approver token"). */
  what: string
  audience: string
  /** Required header typ (compared case-insensitively, "application/" prefix ignored). */
  typ?: string
  /** Header typ values that are refused (e.g. a task grant offered as a control credential). */
  forbiddenTyp?: string[]
  requiredClaims?: string[]
  /** Seconds since epoch (tests); default now. */
  currentDate?: Date
}

export type Verified =
  | { ok: true; issuer: TrustedIssuer; payload: JWTPayload; header: ProtectedHeaderParameters }
  | { ok: false; reason: string }

/** A claim or header value quoted in a reason: printable ASCII, at most 80 characters. */
export function quote(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v)
  const clean = s.replace(/[^\x20-\x7e]/g, '?')
  return JSON.stringify(clean.length > 80 ? `${clean.slice(0, 80)}…` : clean)
}

function normTyp(t: unknown): string | null {
  if (typeof t !== 'string') return null
  const l = t.toLowerCase()
  return l.startsWith('application/') ? l.slice('application/'.length) : l
}

export async function verifyJwt(token: string, issuers: readonly TrustedIssuer[], o: VerifyOptions): Promise<Verified> {
  const fail = (reason: string): Verified => ({ ok: false, reason: `${o.what} refused: ${reason}` })
  if (token.length > MAX_TOKEN_CHARS) return fail(`longer than ${MAX_TOKEN_CHARS} characters`)
  if (!COMPACT_JWS.test(token)) return fail('not a compact JWS (header.payload.signature)')
  const { decodeJwt, decodeProtectedHeader, jwtVerify, errors } = await loadJose()
  let header: ProtectedHeaderParameters
  let claims: JWTPayload
  try {
    header = decodeProtectedHeader(token)
    claims = decodeJwt(token)
  } catch {
    return fail('header or payload is not base64url JSON')
  }
  const alg = header.alg
  if (typeof alg !== 'string') return fail('no alg in the header')
  if (alg.toLowerCase() === 'none') return fail('alg "none" (an unsigned token) is never accepted')
  if (!(ASYMMETRIC_ALGS as readonly string[]).includes(alg)) return fail(`alg ${quote(alg)} is not accepted (only asymmetric signatures; HS* would let a holder of the public key sign)`)
  if (header.crit !== undefined) return fail('crit header parameters are not supported')
  const typ = normTyp(header.typ)
  if (o.typ !== undefined && typ !== normTyp(o.typ)) return fail(`header typ must be ${quote(o.typ)}, got ${typ === null ? 'none' : quote(header.typ)}`)
  if (o.forbiddenTyp?.some((f) => normTyp(f) === typ)) return fail(`a token of type ${quote(header.typ)} is not accepted here`)
  if (typeof claims.iss !== 'string') return fail('no iss claim')
  const issuer = issuers.find((i) => i.issuer === claims.iss)
  if (!issuer) return fail(`unknown issuer ${quote(claims.iss)}`)
  if (!issuer.algorithms.includes(alg)) return fail(`alg ${alg} is not accepted from issuer ${issuer.name}`)
  try {
    const r = await jwtVerify(token, issuer.key as Parameters<typeof jwtVerify>[1], {
      issuer: issuer.issuer,
      audience: o.audience,
      algorithms: issuer.algorithms,
      clockTolerance: CLOCK_TOLERANCE_S,
      requiredClaims: ['exp', 'iat', ...(o.requiredClaims ?? [])],
      ...(o.currentDate ? { currentDate: o.currentDate } : {}),
    })
    return { ok: true, issuer, payload: r.payload, header: r.protectedHeader }
  } catch (err) {
    return fail(explain(errors, err, issuer, header, claims))
  }
}

function when(s: unknown): string {
  return typeof s === 'number' && Number.isFinite(s) ? new Date(s * 1000).toISOString() : quote(s)
}

function explain(errors: typeof import('jose').errors, err: unknown, issuer: TrustedIssuer, header: ProtectedHeaderParameters, claims: JWTPayload): string {
  if (err instanceof errors.JWTExpired) return `expired at ${when(claims.exp)}`
  if (err instanceof errors.JWTClaimValidationFailed) {
    const c = err.claim
    if (err.reason === 'missing') return `the ${c} claim is missing`
    if (c === 'nbf') return `not valid before ${when(claims.nbf)}`
    if (c === 'iat') return `issued in the future (iat ${when(claims.iat)})`
    if (c === 'aud') return `audience ${quote(claims.aud)} is not this trust domain`
    return `claim ${c} is invalid (${err.reason})`
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return `bad signature (issuer ${issuer.name})`
  if (err instanceof errors.JWKSNoMatchingKey) return `issuer ${issuer.name} has no key ${header.kid === undefined ? 'for this alg' : `with kid ${quote(header.kid)}`}`
  if (err instanceof errors.JWKSMultipleMatchingKeys) return `several keys of issuer ${issuer.name} match; the token must name its kid`
  if (err instanceof errors.JWKSTimeout) return `the JWKS of issuer ${issuer.name} could not be fetched in time (fail closed)`
  if (err instanceof errors.JOSEAlgNotAllowed) return `alg ${quote(header.alg)} is not accepted from issuer ${issuer.name}`
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid) return 'malformed token'
  if (err instanceof errors.JOSEError) return `${err.code}`
  // Network and JWKS parsing errors: fail closed, say where (never the token).
  return `the keys of issuer ${issuer.name} are unavailable (fail closed): ${String((err as Error)?.message ?? err).slice(0, 200)}`
}
