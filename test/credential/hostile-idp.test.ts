// The OAuth client (oauth4webapi + toolgate's bounded transport) against a hostile or broken
// token endpoint: a real HTTP server on loopback answering what each case scripts. Every answer
// that is not a usable token must become a 503 whose reason names the endpoint, status and OAuth
// error code only: the server echoes the client secret back in every body, and the test greps
// every reason, record and log line for it.

import t from 'tap'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import { harness } from './setup.ts'

type Script = (req: IncomingMessage, res: ServerResponse, body: string) => void
let script: Script = (_req, res) => { res.end() }
let requests = 0
const server = createServer((req, res) => {
  const chunks: Buffer[] = []
  req.on('data', (c: Buffer) => chunks.push(c))
  req.on('end', () => { requests++; script(req, res, Buffer.concat(chunks).toString()) })
})
server.listen(0, '127.0.0.1')
await once(server, 'listening')
t.teardown(() => { server.closeAllConnections(); server.close() })
const tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth/token`
const secret = 'client-secret-3b1f9a77e2d04c55'

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Script => (_req, res, reqBody) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  // Echo what the client sent (its secret included), as a careless server might.
  res.end(JSON.stringify(typeof body === 'object' && body !== null ? { ...body, echo: reqBody } : body))
}

const cases: { name: string; script: Script; reason: RegExp; ok?: boolean }[] = [
  { name: 'a usable token', script: json(200, { access_token: 'tok-1', token_type: 'Bearer', expires_in: 60 }), reason: /./, ok: true },
  { name: 'token_type N_A (RFC 8693)', script: json(200, { access_token: 'tok-2', token_type: 'N_A' }), reason: /./, ok: true },
  { name: 'an oversized body', script: (_q, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify({ access_token: 'x', token_type: 'bearer', pad: 'a'.repeat(70_000), secret })) }, reason: /answered more than 65536 bytes/ },
  { name: 'a token with a line break', script: json(200, { access_token: 'tok\r\nX-Injected: 1', token_type: 'bearer' }), reason: /without a usable access_token/ },
  { name: 'a token with a space', script: json(200, { access_token: 'tok en', token_type: 'bearer' }), reason: /without a usable access_token/ },
  { name: 'no token_type', script: json(200, { access_token: 'tok-3' }), reason: /without a usable access_token/ },
  { name: 'token_type mac', script: json(200, { access_token: 'tok-4', token_type: 'mac' }), reason: /unsupported token_type/ },
  { name: 'a non-JSON 200', script: (_q, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end(`<html>${secret}</html>`) }, reason: /without a usable access_token/ },
  { name: 'a JSON array', script: (_q, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify([secret])) }, reason: /without a usable access_token/ },
  { name: 'an OAuth error with the secret in error_description', script: json(400, { error: 'invalid_scope', error_description: `you sent ${secret}` }), reason: /refused the token request: 400 \(error=invalid_scope\)/ },
  { name: 'an error code that tries to inject text', script: json(400, { error: `bad\n${secret} code` }), reason: /refused the token request: 400 \(error=unrecognised\)$/ },
  { name: 'a 401 challenge', script: json(401, { error: 'invalid_client' }, { 'www-authenticate': `Basic realm="${secret}"` }), reason: /refused the token request: 401/ },
  { name: 'a redirect (never followed)', script: (_q, res) => { res.writeHead(302, { location: `http://127.0.0.1:1/?s=${secret}` }); res.end() }, reason: /refused the token request: 302/ },
  { name: 'a 503 on every attempt', script: json(503, { error: 'temporarily_unavailable' }), reason: /answered 503 \(error=temporarily_unavailable\)/ },
]

t.test('each answer of the token endpoint: a token, or a 503 that quotes nothing it sent', async (t) => {
  const h = harness(() => ({ idp: { type: 'oauth2_client_credentials', token_url: tokenUrl, client_id: 'c', client_secret_file: 's', client_auth: 'client_secret_post', max_attempts: 2, timeout_ms: 2000 } }), { failureHoldMs: 0 })
  h.file('s', secret)
  t.teardown(() => h.close())
  const reasons: string[] = []
  for (const [i, c] of cases.entries()) {
    script = c.script
    const got = await h.obtain(`tool${i}`, { provider: 'idp' })
    if (c.ok) {
      t.ok(got.ok, `${c.name}: accepted`)
      continue
    }
    t.match(got, { ok: false, status: 503, reason: c.reason }, `${c.name}: refused`)
    if (!got.ok) reasons.push(got.reason)
  }
  const haystack = [reasons.join('\n'), JSON.stringify(h.records), h.logs.join('\n'), await h.registry.metrics()].join('\n')
  t.notOk(haystack.includes(secret), 'the client secret appears in no reason, record, log line or metric')
  t.notOk(haystack.includes('X-Injected'), 'nor does any part of a refused token')
})

t.test('a 503 then a token: retried with backoff, and the retry is counted', async (t) => {
  const h = harness(() => ({ idp: { type: 'oauth2_client_credentials', token_url: tokenUrl, client_id: 'c', client_secret_file: 's', max_attempts: 3 } }))
  h.file('s', secret)
  t.teardown(() => h.close())
  let n = 0
  script = (req, res, body) => (++n === 1 ? json(503, {}) : json(200, { access_token: 'after-retry', token_type: 'bearer' }))(req, res, body)
  const before = requests
  const got = await h.obtain('api', { provider: 'idp' })
  t.match(got, { ok: true, credential: { value: 'Bearer after-retry' } })
  t.equal(requests - before, 2)
  t.match(await h.registry.metrics(), /toolgate_credential_fetch_retries_total\{provider="idp"\} 1/)
})

t.test('client_secret_basic: the id and secret are form-encoded before base64 (RFC 6749 §2.3.1)', async (t) => {
  const odd = 'p@ss word:+/%é'
  const h = harness(() => ({ idp: { type: 'oauth2_client_credentials', token_url: tokenUrl, client_id: 'id:with space', client_secret_file: 's' } }))
  h.file('s', odd)
  t.teardown(() => h.close())
  let auth = ''
  script = (req, res, body) => { auth = String(req.headers.authorization); json(200, { access_token: 'ok', token_type: 'bearer' })(req, res, body) }
  t.ok((await h.obtain('api', { provider: 'idp' })).ok)
  const [id, pw] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':')
  t.equal(decodeURIComponent(id!.replace(/\+/g, ' ')), 'id:with space')
  t.equal(decodeURIComponent(pw!.replace(/\+/g, ' ')), odd)
})

t.test('an endpoint that never finishes its body is cut off at timeout_ms', async (t) => {
  const h = harness(() => ({ idp: { type: 'oauth2_client_credentials', token_url: tokenUrl, client_id: 'c', client_secret_file: 's', timeout_ms: 600, max_attempts: 1 } }))
  h.file('s', secret)
  t.teardown(() => h.close())
  script = (_q, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.write('{"access_token":"') }
  const started = Date.now()
  const got = await h.obtain('api', { provider: 'idp' })
  t.match(got, { ok: false, status: 503 })
  t.ok(Date.now() - started < 1500, `bounded (${Date.now() - started} ms)`)
})
