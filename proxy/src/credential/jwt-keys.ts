// ES256 signing keys of the `jwt` provider, generated in memory (the private key never leaves
// the process) and rotated every rotationS. The JWKS publishes the next key one period before it
// signs anything, so verifiers that cache the JWKS already know it, and keeps a retired key until
// every token it signed has expired. Bounded: next + current + a few retired keys.
// jose is loaded when the first key is made, so a sidecar without a jwt provider never loads it.

import { randomUUID } from 'node:crypto'
import type { CryptoKey, JWK } from 'jose'

export interface SigningKey {
  kid: string
  privateKey: CryptoKey
  publicJwk: JWK
  createdAt: number
  /** When it stopped signing; null while next or current. */
  retiredAt: number | null
}

const MAX_RETIRED = 4

export class JwtKeyRing {
  private readonly rotationMs: number
  private readonly maxTokenMs: number
  private readonly now: () => number
  private current: SigningKey | null = null
  private next: SigningKey | null = null
  private retired: SigningKey[] = []
  private pending: Promise<SigningKey> | null = null

  constructor(opts: { rotationS: number; maxTokenTtlS: number; now?: () => number }) {
    this.rotationMs = opts.rotationS * 1000
    this.maxTokenMs = opts.maxTokenTtlS * 1000
    this.now = opts.now ?? Date.now
  }

  /** The key to sign with now, rotating first when the current one is due. */
  signingKey(): Promise<SigningKey> {
    const cur = this.current
    if (cur && this.now() - cur.createdAt < this.rotationMs) return Promise.resolve(cur)
    this.pending ??= this.rotate().finally(() => { this.pending = null })
    return this.pending
  }

  /** Creates the first keys (so the JWKS is complete before the first token). */
  async init(): Promise<void> {
    await this.signingKey()
  }

  jwks(): { keys: JWK[] } {
    const now = this.now()
    this.retired = this.retired.filter((k) => k.retiredAt !== null && now - k.retiredAt < this.maxTokenMs + 60_000)
    const keys = [this.next, this.current, ...this.retired].filter((k): k is SigningKey => k !== null)
    return { keys: keys.map((k) => ({ ...k.publicJwk })) }
  }

  private async rotate(): Promise<SigningKey> {
    const now = this.now()
    const promoted = this.next ?? (await newKey(now))
    if (this.current) {
      this.current.retiredAt = now
      this.retired = [this.current, ...this.retired].slice(0, MAX_RETIRED)
    }
    promoted.createdAt = now
    this.current = promoted
    this.next = await newKey(now)
    return promoted
  }
}

async function newKey(now: number): Promise<SigningKey> {
  const { exportJWK, generateKeyPair, calculateJwkThumbprint } = await import('jose')
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
  const jwk = await exportJWK(publicKey)
  const kid = (await calculateJwkThumbprint(jwk)).slice(0, 16) || randomUUID()
  return { kid, privateKey, publicJwk: { ...jwk, kid, alg: 'ES256', use: 'sig' }, createdAt: now, retiredAt: null }
}
