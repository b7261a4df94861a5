// Where the public keys of a trusted issuer (task issuer or approver) come from: a JWKS URL
// (jose's createRemoteJWKSet: cached, refetched on an unknown kid after a cooldown, which is how
// key rotation reaches toolgate) or a mounted public key (PEM SPKI, a JWK or a JWKS as JSON).
// Symmetric keys are never accepted: a trusted issuer's key is public, and an HMAC "public key"
// would let anyone who read it mint tokens (the HS/RS confusion).

import { readFileSync } from 'node:fs'
import { createPublicKey, type KeyObject } from 'node:crypto'
import { resolve } from 'node:path'
import type { JSONWebKeySet, JWK, JWTVerifyGetKey } from 'jose'
import { loadJose } from './jose-lazy.ts'

/** Every asymmetric JWS algorithm jose verifies; HS* and none are not among them on purpose. */
export const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const

/** A JWKS document larger than this is refused (a JWKS of a few keys is a few KiB). */
export const MAX_JWKS_BYTES = 64 * 1024

export interface KeySourceConfig {
  issuer: string
  jwks_url?: string
  public_key_file?: string
  algorithms?: string[]
  jwks_min_refresh_s?: number
  jwks_timeout_ms?: number
}

/** A verification key source: a key resolver (remote or local JWKS) or one fixed public key. */
export type KeySource = JWTVerifyGetKey | KeyObject

/** Builds the key source; throws with a message naming the file or URL when it cannot. */
export function keySource(c: KeySourceConfig, configDir: string): KeySource {
  if (c.jwks_url !== undefined) {
    const url = new URL(c.jwks_url)
    return lazyKeySet((jose) => jose.createRemoteJWKSet(url, {
      timeoutDuration: c.jwks_timeout_ms ?? 3000,
      cooldownDuration: (c.jwks_min_refresh_s ?? 30) * 1000,
      cacheMaxAge: 10 * 60 * 1000,
      [jose.customFetch]: boundedFetch,
    }))
  }
  if (c.public_key_file === undefined) throw new Error(`issuer ${c.issuer}: give jwks_url or public_key_file`)
  const file = resolve(configDir, c.public_key_file)
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new Error(`issuer ${c.issuer}: cannot read public_key_file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  return parsePublicKey(text, `issuer ${c.issuer}: public_key_file ${file}`)
}

/** A PEM public key, a JWK or a JWKS (JSON). Private or symmetric material is refused. */
export function parsePublicKey(text: string, where: string): KeySource {
  const trimmed = text.trim()
  if (trimmed.startsWith('{')) {
    let doc: unknown
    try {
      doc = JSON.parse(trimmed)
    } catch {
      throw new Error(`${where}: not valid JSON`)
    }
    const keys: JWK[] = Array.isArray((doc as JSONWebKeySet).keys) ? (doc as JSONWebKeySet).keys : [doc as JWK]
    for (const k of keys) {
      if (typeof k !== 'object' || k === null || typeof k.kty !== 'string') throw new Error(`${where}: every key needs kty`)
      if (k.kty === 'oct') throw new Error(`${where}: symmetric (oct) keys are not accepted`)
      if ('d' in k) throw new Error(`${where}: holds a private key; mount only the public key`)
    }
    return lazyKeySet((jose) => jose.createLocalJWKSet({ keys }))
  }
  if (/PRIVATE KEY/.test(trimmed)) throw new Error(`${where}: holds a private key; mount only the public key`)
  try {
    return createPublicKey(trimmed)
  } catch {
    throw new Error(`${where}: not a PEM public key, JWK or JWKS`)
  }
}

/**
 * A key resolver whose jose key set is built on the first verification (jose-lazy.ts): the same
 * one set for every later call, so the remote set's cache and cooldown work as before. Input
 * checks that can fail (file, JSON, key types, URL) stay eager, in keySource/parsePublicKey.
 */
function lazyKeySet(make: (jose: typeof import('jose')) => JWTVerifyGetKey): JWTVerifyGetKey {
  // The promise is kept (not the set) so that calls racing the first load share one set; a
  // failed load is forgotten, so the next call tries again.
  let set: Promise<JWTVerifyGetKey> | null = null
  return async (header, token) => {
    set ??= loadJose().then(make).catch((err: unknown) => {
      set = null
      throw err
    })
    return (await set)(header, token)
  }
}

/** fetch for jose's remote JWKS: no redirects, and the body is cut at MAX_JWKS_BYTES. */
async function boundedFetch(url: string, options: { headers: Headers; method: 'GET'; redirect: 'manual'; signal: AbortSignal }): Promise<Response> {
  const res = await fetch(url, { ...options, redirect: 'manual' })
  if (res.status !== 200 || !res.body) return res
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > MAX_JWKS_BYTES) {
      await reader.cancel().catch(() => {})
      throw new Error(`JWKS response is larger than ${MAX_JWKS_BYTES} bytes`)
    }
    chunks.push(value)
  }
  return new Response(Buffer.concat(chunks), { status: 200, headers: res.headers })
}
