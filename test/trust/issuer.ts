// A real token issuer for the trust tests: a JWKS server built on jose, on 127.0.0.1:<random>,
// publishing the public keys of ES256/RS256 signing keys it can rotate (new kid published, old one
// withdrawn), and signing task grants (Txn-Tokens), issuer control tokens, approver tokens and
// signed approval decisions with them. It counts JWKS fetches, so tests can see caching and
// refetch-on-unknown-kid happen over HTTP.

import { createServer, type Server } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose'

export interface SigningKey {
  kid: string
  alg: 'ES256' | 'RS256'
  privateKey: CryptoKey
  publicJwk: JWK
  spkiPem: string
}

export interface TestIssuer {
  issuer: string
  jwksUrl: string
  /** Keys currently published (the first one signs by default). */
  keys: SigningKey[]
  jwksFetches: number
  /** Publishes a new key (new kid) and withdraws the old ones; the new key signs from now on. */
  rotate(alg?: 'ES256' | 'RS256'): Promise<SigningKey>
  /** A key that is never published (for bad-signature and unknown-kid tests). */
  unpublishedKey(kid: string, alg?: 'ES256' | 'RS256'): Promise<SigningKey>
  sign(payload: JWTPayload, o?: { typ?: string | null; key?: SigningKey; kid?: string | null; iss?: string | null }): Promise<string>
  close(): Promise<void>
}

export async function newKey(kid: string, alg: 'ES256' | 'RS256' = 'ES256'): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  return { kid, alg, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, spkiPem: await exportSPKI(publicKey) }
}

export async function startIssuer(name = 'orchestrator'): Promise<TestIssuer> {
  const server: Server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const state: TestIssuer = {
    issuer: `${base}/${name}`,
    jwksUrl: `${base}/${name}/jwks.json`,
    keys: [await newKey(`${name}-1`)],
    jwksFetches: 0,
    async rotate(alg = 'ES256') {
      const k = await newKey(`${name}-${state.keys.length + 1}-${randomUUID().slice(0, 8)}`, alg)
      state.keys = [k]
      return k
    },
    unpublishedKey: (kid, alg = 'ES256') => newKey(kid, alg),
    async sign(payload, o = {}) {
      const key = o.key ?? state.keys[0]!
      const header: Record<string, unknown> = { alg: key.alg }
      if (o.kid !== null) header['kid'] = o.kid ?? key.kid
      if (o.typ !== null) header['typ'] = o.typ ?? 'JWT'
      const jwt = new SignJWT({ ...payload }).setProtectedHeader(header as { alg: string })
      if (o.iss !== null) jwt.setIssuer(o.iss ?? state.issuer)
      return jwt.sign(key.privateKey)
    },
    close: async () => { server.closeAllConnections(); server.close() },
  }
  server.on('request', (req, res) => {
    if (req.url === `/${name}/jwks.json`) {
      state.jwksFetches++
      const body = JSON.stringify({ keys: state.keys.map((k) => k.publicJwk) })
      res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
      return
    }
    res.writeHead(404)
    res.end()
  })
  return state
}

/** Claims of a task grant (draft-ietf-oauth-transaction-tokens) for the given workload. */
export function grantClaims(o: { sub: string; aud: string; tools: string[]; intent?: string; ttlS?: number; iatOffsetS?: number; txn?: string; maxCalls?: number; extra?: JWTPayload }): JWTPayload {
  const now = Math.floor(Date.now() / 1000) + (o.iatOffsetS ?? 0)
  return {
    txn: o.txn ?? randomUUID(),
    sub: o.sub,
    aud: o.aud,
    iat: now,
    exp: now + (o.ttlS ?? 300),
    req_wl: 'spiffe://cluster.local/ns/platform/sa/orchestrator',
    tctx: { intent: o.intent ?? 'triage the issue queue', tools: o.tools, ...(o.maxCalls !== undefined ? { limits: { max_calls: o.maxCalls } } : {}) },
    ...o.extra,
  }
}
