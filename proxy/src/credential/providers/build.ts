// Builds the TokenProvider for one configured provider. A provider that cannot be built (a
// missing ca_file, an impossible client_auth) is kept with its error, so calls to its tools get
// a precise 503 instead of the whole config failing at runtime.

import type { CredentialProvider } from '../../config/schema.gen.ts'
import type { JwtKeyRing } from '../jwt-keys.ts'
import { ClientCredentialsProvider } from './client-credentials.ts'
import { JwtTokenProvider } from './jwt.ts'
import { StaticTokenProvider } from './static.ts'
import { TokenExchangeTokenProvider } from './token-exchange.ts'
import type { TokenProvider } from './provider.ts'

export const DEFAULT_TIMEOUT_MS = 5000

export interface BuiltProvider {
  name: string
  type: CredentialProvider['type']
  impl: TokenProvider | null
  error: string | null
  /** Config identity: an unchanged provider survives a reload with its cache. */
  fingerprint: string
  /** Bound on one fetch, retries included. */
  timeoutMs: number
  defaultScopes: string[]
  jwtKeys: JwtKeyRing | null
}

export function buildProvider(name: string, config: CredentialProvider, configDir: string, fingerprint: string, opts: { now: () => number; connectTimeoutMs: number; onRetry: () => void }): BuiltProvider {
  const base = { name, type: config.type, fingerprint, jwtKeys: null, error: null }
  const timeoutMs = 'timeout_ms' in config && config.timeout_ms ? config.timeout_ms : DEFAULT_TIMEOUT_MS
  const connectTimeoutMs = Math.min(opts.connectTimeoutMs, timeoutMs)
  try {
    switch (config.type) {
      case 'static':
        return { ...base, impl: new StaticTokenProvider(config, configDir, { now: opts.now }), timeoutMs, defaultScopes: [] }
      case 'oauth2_client_credentials':
        return { ...base, impl: new ClientCredentialsProvider(config, configDir, { onRetry: opts.onRetry, connectTimeoutMs }), timeoutMs, defaultScopes: config.scopes ?? [] }
      case 'token_exchange':
        return { ...base, impl: new TokenExchangeTokenProvider(config, configDir, { onRetry: opts.onRetry, connectTimeoutMs }), timeoutMs, defaultScopes: config.scopes ?? [] }
      case 'jwt': {
        const impl = new JwtTokenProvider(config, { now: opts.now })
        return { ...base, impl, timeoutMs, defaultScopes: [], jwtKeys: impl.keys }
      }
    }
  } catch (err) {
    return { ...base, impl: null, error: (err as Error).message, timeoutMs, defaultScopes: [] }
  }
}
