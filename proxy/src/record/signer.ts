// The key that signs record checkpoints: ECDSA P-256 (ES256). From a PEM file when the config
// names one (so records stay verifiable after a restart with the same public key), otherwise
// generated at start and kept in memory. Its public half is published in the admin JWKS with
// `use: sig` and a kid that is its RFC 7638 thumbprint, so a verifier can match a checkpoint's kid.

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'

export interface RecordSigner {
  kid: string
  privateKey: KeyObject
  publicJwk: { kty: 'EC'; crv: 'P-256'; x: string; y: string; kid: string; alg: 'ES256'; use: 'sig' }
}

/** RFC 7638 thumbprint of an EC public key (the members in lexicographic order, no spaces). */
export function ecThumbprint(jwk: { crv: string; kty: string; x: string; y: string }): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
  return createHash('sha256').update(canonical).digest('base64url')
}

export function signerFromKey(privateKey: KeyObject): RecordSigner {
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error('record signing key must be an EC P-256 private key')
  }
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' }) as JsonWebKey & { x: string; y: string }
  const kid = ecThumbprint({ crv: 'P-256', kty: 'EC', x: jwk.x, y: jwk.y })
  return { kid, privateKey, publicJwk: { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, kid, alg: 'ES256', use: 'sig' } }
}

export function generateSigner(): RecordSigner {
  return signerFromKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey)
}

/** Loads a PEM (PKCS#8 or SEC1) private key; the error names the file, never its content. */
export function signerFromFile(path: string): RecordSigner {
  let key: KeyObject
  try {
    key = createPrivateKey(readFileSync(path))
  } catch (err) {
    throw new Error(`record signing key ${path}: not a readable PEM private key (${(err as NodeJS.ErrnoException).code ?? 'parse error'})`)
  }
  return signerFromKey(key)
}
