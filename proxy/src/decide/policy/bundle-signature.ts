// Verifies a bundle's .signatures.json the way OPA does (bundle/verify.go) for bundles made by
// `opa build --signing-key`: exactly one JWS; the key id from the configuration, else the JWS
// header `kid`, else the payload `keyid`; signature checked with the configured key and
// algorithm (default RS256, as OPA); payload `scope` must equal the configured scope; then every
// file of the bundle (except the signatures file) must be listed with a matching digest, and
// every listed file must exist. One difference from OPA, on the strict side: when a key id is
// configured and the token names another one, the bundle is refused rather than verified anyway.

import { createPublicKey, createSecretKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { opaFileDigest } from './opa-file-hash.ts'

export interface BundleSigning {
  /** PEM public key (or certificate); for HS* the shared secret itself. */
  publicKeyPem: string
  keyId?: string
  /** JWS algorithm (RS256 when absent, OPA's default). */
  algorithm?: string
  scope?: string
  /** Where the key came from (a file path), for error messages; never the key itself. */
  keySource?: string
  /** Set when the key could not be loaded: every bundle is refused with this reason. */
  keyError?: string
}

export class BundleSignatureError extends Error {
  override name = 'BundleSignatureError'
}

const MAX_SIGNED_FILES = 10_000

export function isSignaturesFile(path: string): boolean {
  return path === '.signatures.json' || path.endsWith('/.signatures.json')
}

function verificationKey(signing: BundleSigning, alg: string): KeyObject {
  const from = signing.keySource ? ` (${signing.keySource})` : ''
  if (signing.keyError !== undefined) throw new BundleSignatureError(`the configured verification key${from} ${signing.keyError}`)
  if (signing.publicKeyPem === '') throw new BundleSignatureError(`the configured verification key${from} is empty`)
  if (alg.startsWith('HS')) return createSecretKey(Buffer.from(signing.publicKeyPem, 'utf8'))
  try {
    return createPublicKey(signing.publicKeyPem)
  } catch (err) {
    throw new BundleSignatureError(`the configured verification key${from} cannot be read: ${(err as Error).message}`)
  }
}

interface SignedFile { name: string; hash: string; algorithm: string }

function signedFiles(payload: unknown): { files: SignedFile[]; keyid: string | undefined; scope: string } {
  if (typeof payload !== 'object' || payload === null) throw new BundleSignatureError('signature payload is not an object')
  const p = payload as Record<string, unknown>
  if (!Array.isArray(p['files'])) throw new BundleSignatureError('signature payload has no files list')
  if (p['files'].length > MAX_SIGNED_FILES) throw new BundleSignatureError('signature payload lists too many files')
  const files = p['files'].map((f: unknown) => {
    const r = (typeof f === 'object' && f !== null ? f : {}) as Record<string, unknown>
    if (typeof r['name'] !== 'string' || typeof r['hash'] !== 'string') throw new BundleSignatureError('signature payload has a malformed file entry')
    return { name: r['name'].replace(/^\/+/, ''), hash: r['hash'], algorithm: typeof r['algorithm'] === 'string' ? r['algorithm'] : '' }
  })
  return {
    files,
    keyid: typeof p['keyid'] === 'string' ? p['keyid'] : undefined,
    scope: typeof p['scope'] === 'string' ? p['scope'] : '',
  }
}

/** Throws BundleSignatureError unless the bundle's files carry a valid signature by the configured key. */
export async function verifyBundleSignature(files: ReadonlyMap<string, Buffer>, signing: BundleSigning): Promise<void> {
  const sigPaths = [...files.keys()].filter(isSignaturesFile)
  if (sigPaths.length === 0) throw new BundleSignatureError('bundle is not signed (no .signatures.json) but signature verification is configured')
  if (sigPaths.length > 1 || sigPaths[0] !== '.signatures.json') throw new BundleSignatureError('bundle has a .signatures.json outside its root')
  let tokens: unknown
  try {
    tokens = (JSON.parse((files.get('.signatures.json') as Buffer).toString('utf8')) as { signatures?: unknown }).signatures
  } catch {
    throw new BundleSignatureError('.signatures.json is not valid JSON')
  }
  if (!Array.isArray(tokens) || tokens.length === 0) throw new BundleSignatureError('.signatures.json: missing JWT (expected exactly one)')
  if (tokens.length > 1) throw new BundleSignatureError('.signatures.json: multiple JWTs not supported (expected exactly one)')
  const token = tokens[0]
  if (typeof token !== 'string') throw new BundleSignatureError('.signatures.json: the signature is not a string')

  // jose is loaded only when a bundle is actually verified: most sidecars never sign bundles,
  // and its import is a measurable part of start-up.
  const { compactVerify, decodeProtectedHeader } = await import('jose')
  let headerKid: string | undefined
  try {
    const h = decodeProtectedHeader(token)
    headerKid = typeof h.kid === 'string' ? h.kid : undefined
  } catch {
    throw new BundleSignatureError('.signatures.json: the signature is not a compact JWS')
  }
  const alg = signing.algorithm ?? 'RS256'
  let payloadBytes: Uint8Array
  try {
    payloadBytes = (await compactVerify(token, verificationKey(signing, alg), { algorithms: [alg] })).payload
  } catch (err) {
    if (err instanceof BundleSignatureError) throw err
    throw new BundleSignatureError(`failed to verify the bundle signature: ${(err as Error).message}`)
  }
  let payload: unknown
  try {
    payload = JSON.parse(Buffer.from(payloadBytes).toString('utf8'))
  } catch {
    throw new BundleSignatureError('signature payload is not JSON')
  }
  const signed = signedFiles(payload)
  const tokenKid = headerKid ?? signed.keyid
  if (signing.keyId !== undefined && tokenKid !== undefined && tokenKid !== signing.keyId) {
    throw new BundleSignatureError(`bundle is signed with key id ${JSON.stringify(tokenKid)}, not the configured ${JSON.stringify(signing.keyId)}`)
  }
  if (signed.scope !== (signing.scope ?? '')) throw new BundleSignatureError('bundle signature scope mismatch')

  const listed = new Map<string, SignedFile>()
  for (const f of signed.files) listed.set(f.name, f)
  for (const [path, bytes] of files) {
    if (isSignaturesFile(path)) continue
    const entry = listed.get(path)
    if (!entry) throw new BundleSignatureError(`file ${path} is not included in the bundle signature`)
    if (entry.algorithm === '') throw new BundleSignatureError(`no hashing algorithm given for file ${path}`)
    let digest: Buffer
    try {
      digest = opaFileDigest(path, bytes, entry.algorithm)
    } catch (err) {
      throw new BundleSignatureError(`${path}: ${(err as Error).message}`)
    }
    if (!/^[0-9a-fA-F]*$/.test(entry.hash) || !digest.equals(Buffer.from(entry.hash, 'hex'))) {
      throw new BundleSignatureError(`${path}: digest mismatch`)
    }
    listed.delete(path)
  }
  if (listed.size > 0) throw new BundleSignatureError(`file(s) ${[...listed.keys()].join(', ')} specified in the bundle signature but not found in the bundle`)
}
