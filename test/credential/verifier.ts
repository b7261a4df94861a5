// A resource server for the tests: validates the bearer token it receives for real with jose
// (signature against the issuer's JWKS fetched over HTTP, issuer, audience, expiry) and answers
// 200 with the verified claims, or 401.

import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import { createRemoteJWKSet, jwtVerify } from 'jose'

export interface Verifier {
  url: string
  /** Headers of every request received (the secret/injection tests inspect them). */
  seen: IncomingHttpHeaders[]
  close(): Promise<void>
}

export async function startVerifier(opts: { jwksUrl: string; issuer: string; audience: string; header?: string }): Promise<Verifier> {
  const jwks = createRemoteJWKSet(new URL(opts.jwksUrl), { cooldownDuration: 0 })
  const seen: IncomingHttpHeaders[] = []
  const header = (opts.header ?? 'authorization').toLowerCase()
  const server = createServer(async (req, res) => {
    seen.push(req.headers)
    req.resume()
    const value = String(req.headers[header] ?? '')
    const m = /^Bearer (\S+)$/.exec(value)
    try {
      if (!m) throw new Error('no bearer token')
      const { payload } = await jwtVerify(m[1]!, jwks, { issuer: opts.issuer, audience: opts.audience })
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ ok: true, sub: payload.sub, aud: payload.aud, scope: payload.scope ?? null, act: payload.act ?? null, task_id: payload.task_id ?? null }))
    } catch (err) {
      res.writeHead(401, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ ok: false, error: (err as Error).message }))
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    async close() {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}

/** Calls the verifier with one header set, like an upstream request would arrive. */
export async function callVerifier(url: string, headers: [string, string][]): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { headers })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}
