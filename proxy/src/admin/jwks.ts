// GET /.well-known/jwks.json on the admin listener: the public keys of toolgate's `jwt`
// credential provider(s), current, next and recently retired (see credential/jwt-keys.ts).

import type { IncomingMessage, ServerResponse } from 'node:http'
import type { JWK } from 'jose'

export const JWKS_PATH = '/.well-known/jwks.json'

export async function handleJwks(req: IncomingMessage, res: ServerResponse, url: URL, deps: { jwks: () => { keys: JWK[] } }): Promise<boolean> {
  if (url.pathname !== JWKS_PATH) return false
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' })
    res.end(JSON.stringify({ error: 'method_not_allowed', reason: 'use GET' }))
    return true
  }
  const text = JSON.stringify(deps.jwks())
  // Short max-age: verifiers pick up a rotation quickly, and the next key is published early.
  res.writeHead(200, { 'content-type': 'application/jwk-set+json', 'content-length': Buffer.byteLength(text), 'cache-control': 'public, max-age=60' })
  res.end(req.method === 'HEAD' ? undefined : text)
  return true
}
