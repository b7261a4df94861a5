// A real OAuth2 authorization server for the credential tests: oidc-provider (certified OpenID
// implementation) on 127.0.0.1:<random>, issuing client-credentials tokens and - through a grant
// registered with registerGrantType - RFC 8693 token-exchange tokens whose subject token is a
// "projected service-account token" signed by a test Kubernetes issuer. JWT access tokens for
// https://api.test/, opaque ones (revocable, introspectable) for https://opaque.test/.
// The front server counts requests per endpoint and can simulate an outage (500s or a hang).

import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import Provider, { errors } from 'oidc-provider'
import { SignJWT, createLocalJWKSet, exportJWK, exportPKCS8, generateKeyPair, jwtVerify, type JWK } from 'jose'

export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const K8S_ISSUER = 'https://kubernetes.default.svc.cluster.local'
export const JWT_RESOURCE = 'https://api.test/'
export const OPAQUE_RESOURCE = 'https://opaque.test/'

export type IdpMode = 'ok' | 'fail500' | 'hang'

export interface Idp {
  issuer: string
  tokenUrl: string
  revocationUrl: string
  introspectionUrl: string
  jwksUrl: string
  secrets: { basic: string; post: string; exchanger: string }
  /** PKCS#8 PEM of the private_key_jwt client's key. */
  clientKeyPem: string
  /** Signs a projected service-account token as the test Kubernetes API server would. */
  serviceAccountToken(sub: string, ttlS?: number): Promise<string>
  counts: { token: number; revocation: number; introspection: number }
  grants: string[]
  /** Every body the token endpoint answered with (the secret test greps for what it issued). */
  issuedTokens: string[]
  mode: IdpMode
  /** Access token lifetime for the next tokens (seconds). */
  accessTokenTtlS: number
  introspect(token: string, clientId: string, secret: string): Promise<Record<string, unknown>>
  close(): Promise<void>
}

export async function startIdp(): Promise<Idp> {
  const server: Server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const rsa = await generateKeyPair('RS256', { extractable: true })
  const ec = await generateKeyPair('ES256', { extractable: true })
  const client = await generateKeyPair('ES256', { extractable: true })
  const k8s = await generateKeyPair('ES256', { extractable: true })
  const k8sPublic: JWK = { ...(await exportJWK(k8s.publicKey)), kid: 'k8s', alg: 'ES256' }
  const k8sJwks = createLocalJWKSet({ keys: [k8sPublic] })
  const secrets = { basic: `sec-basic-${randomBytes(12).toString('hex')}`, post: `sec-post-${randomBytes(12).toString('hex')}`, exchanger: `sec-xchg-${randomBytes(12).toString('hex')}` }

  const state = {
    counts: { token: 0, revocation: 0, introspection: 0 },
    grants: [] as string[],
    issuedTokens: [] as string[],
    mode: 'ok' as IdpMode,
    accessTokenTtlS: 60,
  }

  const resourceInfo = (resource: string): { scope: string; audience: string; accessTokenTTL: number; accessTokenFormat: 'jwt' | 'opaque'; jwt?: { sign: { alg: string } } } => {
    if (resource === JWT_RESOURCE) return { scope: 'read write', audience: resource, accessTokenTTL: state.accessTokenTtlS, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }
    if (resource === OPAQUE_RESOURCE) return { scope: 'read write', audience: resource, accessTokenTTL: state.accessTokenTtlS, accessTokenFormat: 'opaque' }
    throw new errors.InvalidTarget('unknown resource')
  }

  const exchanged = new WeakMap<object, Record<string, unknown>>()
  const common = { redirect_uris: [], response_types: [], scope: 'read write' }
  const provider = new Provider(issuer, {
    jwks: { keys: [{ ...(await exportJWK(rsa.privateKey)), kid: 'rsa', alg: 'RS256', use: 'sig' }, { ...(await exportJWK(ec.privateKey)), kid: 'ec', alg: 'ES256', use: 'sig' }] },
    clients: [
      { ...common, client_id: 'cc-basic', client_secret: secrets.basic, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic' },
      { ...common, client_id: 'cc-post', client_secret: secrets.post, grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_post' },
      { ...common, client_id: 'cc-pkjwt', grant_types: ['client_credentials'], token_endpoint_auth_method: 'private_key_jwt', token_endpoint_auth_signing_alg: 'ES256', jwks: { keys: [{ ...(await exportJWK(client.publicKey)), kid: 'client-1', alg: 'ES256', use: 'sig' }] } },
      { ...common, client_id: 'exchanger', client_secret: secrets.exchanger, grant_types: [TOKEN_EXCHANGE], token_endpoint_auth_method: 'client_secret_basic' },
    ],
    scopes: ['read', 'write'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => JWT_RESOURCE,
        getResourceServerInfo: (_ctx: unknown, resource: string) => resourceInfo(resource),
        useGrantedResource: () => true,
      },
    },
    extraTokenClaims: (_ctx: unknown, token: object) => exchanged.get(token),
    formats: {
      customizers: {
        // Token exchange: the issued token's subject is the exchanged subject, not the client.
        jwt: (_ctx: unknown, _token: unknown, jwt: { payload: Record<string, unknown> }) => {
          if (typeof jwt.payload.exchanged_sub === 'string') {
            jwt.payload.sub = jwt.payload.exchanged_sub
            delete jwt.payload.exchanged_sub
          }
          return jwt
        },
      },
    },
  } as never)

  // RFC 8693 token exchange, as an IdP would implement it: verify the subject (and actor) token
  // against the cluster's keys, then issue an access token for the requested resource.
  provider.registerGrantType(TOKEN_EXCHANGE, async (ctx: any) => {
    const p = ctx.oidc.params
    const verify = async (token: string, what: string): Promise<string> => {
      try {
        const { payload } = await jwtVerify(token, k8sJwks, { issuer: K8S_ISSUER, audience: 'toolgate-idp' })
        return String(payload.sub)
      } catch {
        throw new errors.InvalidGrant(`${what} is invalid`)
      }
    }
    if (p.subject_token_type !== 'urn:ietf:params:oauth:token-type:jwt') throw new errors.InvalidRequest('unsupported subject_token_type')
    const sub = await verify(p.subject_token, 'subject_token')
    const actor = p.actor_token ? await verify(p.actor_token, 'actor_token') : null
    const resource = p.resource ?? p.audience ?? JWT_RESOURCE
    const info = resourceInfo(resource)
    const allowed = new Set(info.scope.split(' '))
    const scope = String(p.scope ?? '').split(' ').filter((s: string) => allowed.has(s)).join(' ') || undefined
    const token = new provider.ClientCredentials({ client: ctx.oidc.client, scope })
    exchanged.set(token, { exchanged_sub: sub, ...(actor ? { act: { sub: actor } } : {}) })
    token.resourceServer = new provider.ResourceServer(resource, info)
    const value = await token.save()
    ctx.body = { access_token: value, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: token.expiration, ...(scope ? { scope } : {}) }
  }, ['subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'requested_token_type', 'audience', 'resource', 'scope'])

  const callback = provider.callback()
  const hung = new Set<import('node:http').ServerResponse>()
  server.on('request', (req, res) => {
    const path = new URL(req.url ?? '/', issuer).pathname
    if (path === '/token') state.counts.token++
    if (path === '/token/revocation') state.counts.revocation++
    if (path === '/token/introspection') state.counts.introspection++
    if (path.startsWith('/token') && state.mode !== 'ok') {
      if (state.mode === 'fail500') {
        res.writeHead(500, { 'content-type': 'application/json' })
        res.end('{"error":"server_error"}')
      } else hung.add(res)
      return
    }
    if (path === '/token') {
      // Keep what the server issued so the secret test can grep for it.
      const write = res.end.bind(res)
      res.end = ((chunk?: unknown, ...rest: unknown[]) => {
        if (chunk) {
          try {
            const body = JSON.parse(String(chunk)) as { access_token?: string }
            if (body.access_token) state.issuedTokens.push(body.access_token)
          } catch { /* not JSON */ }
        }
        return (write as (...a: unknown[]) => unknown)(chunk, ...rest)
      }) as typeof res.end
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const grant = new URLSearchParams(Buffer.concat(chunks).toString()).get('grant_type') ?? ''
        state.grants.push(grant)
      })
    }
    callback(req, res)
  })

  return {
    issuer,
    tokenUrl: `${issuer}/token`,
    revocationUrl: `${issuer}/token/revocation`,
    introspectionUrl: `${issuer}/token/introspection`,
    jwksUrl: `${issuer}/jwks`,
    secrets,
    clientKeyPem: await exportPKCS8(client.privateKey),
    serviceAccountToken: (sub, ttlS = 3600) => new SignJWT({ 'kubernetes.io': { namespace: 'agents' } })
      .setProtectedHeader({ alg: 'ES256', kid: 'k8s' }).setIssuer(K8S_ISSUER).setSubject(sub).setAudience('toolgate-idp')
      .setIssuedAt().setExpirationTime(`${ttlS}s`).sign(k8s.privateKey),
    get counts() { return state.counts },
    get grants() { return state.grants },
    get issuedTokens() { return state.issuedTokens },
    get mode() { return state.mode },
    set mode(m: IdpMode) { state.mode = m },
    get accessTokenTtlS() { return state.accessTokenTtlS },
    set accessTokenTtlS(s: number) { state.accessTokenTtlS = s },
    async introspect(token, clientId, secret) {
      const res = await fetch(`${issuer}/token/introspection`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
        body: new URLSearchParams({ token }).toString(),
      })
      return (await res.json()) as Record<string, unknown>
    },
    async close() {
      for (const res of hung) res.destroy()
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}
