// OAuth2 client authentication at the token and revocation endpoints: client_secret_basic and
// client_secret_post (RFC 6749 §2.3.1), private_key_jwt (RFC 7523 §2.2, signed with jose) or none
// (public client). Secret and key files are re-read when they change. jose is loaded on the first
// private_key_jwt assertion only: the other methods never need it.

import { createPrivateKey, randomUUID } from 'node:crypto'
import type { CryptoKey } from 'jose'
import { SecretFile } from '../secret-file.ts'
import { ProviderError } from './provider.ts'

export type ClientAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none'

export interface ClientAuthConfig {
  client_id: string
  client_auth?: ClientAuthMethod
  client_secret_file?: string
  private_key_file?: string
  key_id?: string
}

export interface AuthParts {
  form: Record<string, string>
  headers: Record<string, string>
}

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

export class ClientAuth {
  readonly method: ClientAuthMethod
  private readonly clientId: string
  private readonly keyId: string | undefined
  private readonly secret: SecretFile | null
  private readonly key: SecretFile | null
  private imported: { version: string; key: CryptoKey; alg: string } | null = null

  constructor(config: ClientAuthConfig, configDir: string) {
    this.clientId = config.client_id
    this.keyId = config.key_id
    this.method = config.client_auth
      ?? (config.private_key_file ? 'private_key_jwt' : config.client_secret_file ? 'client_secret_basic' : 'none')
    this.secret = config.client_secret_file ? new SecretFile(config.client_secret_file, configDir) : null
    this.key = config.private_key_file ? new SecretFile(config.private_key_file, configDir) : null
    if ((this.method === 'client_secret_basic' || this.method === 'client_secret_post') && !this.secret) {
      throw new ProviderError('config', `client_auth ${this.method} needs client_secret_file`, false)
    }
    if (this.method === 'private_key_jwt' && !this.key) throw new ProviderError('config', 'client_auth private_key_jwt needs private_key_file', false)
  }

  /** Form fields and headers that authenticate the client to `audience` (the endpoint URL). */
  async parts(audience: string): Promise<AuthParts> {
    switch (this.method) {
      case 'none':
        return { form: { client_id: this.clientId }, headers: {} }
      case 'client_secret_post':
        return { form: { client_id: this.clientId, client_secret: await this.readSecret() }, headers: {} }
      case 'client_secret_basic': {
        const secret = await this.readSecret()
        const basic = Buffer.from(`${formEncode(this.clientId)}:${formEncode(secret)}`).toString('base64')
        return { form: {}, headers: { authorization: `Basic ${basic}` } }
      }
      case 'private_key_jwt': {
        const { key, alg } = await this.signingKey()
        const { SignJWT } = await import('jose')
        const now = Math.floor(Date.now() / 1000)
        const assertion = await new SignJWT({})
          .setProtectedHeader({ alg, ...(this.keyId ? { kid: this.keyId } : {}) })
          .setIssuer(this.clientId)
          .setSubject(this.clientId)
          .setAudience(audience)
          .setJti(randomUUID())
          .setIssuedAt(now)
          .setExpirationTime(now + 60)
          .sign(key)
        return { form: { client_id: this.clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: assertion }, headers: {} }
      }
    }
  }

  private async readSecret(): Promise<string> {
    try {
      return (await this.secret!.read()).value
    } catch (err) {
      throw new ProviderError('config', (err as Error).message, false)
    }
  }

  private async signingKey(): Promise<{ key: CryptoKey; alg: string }> {
    let file
    try {
      file = await this.key!.read()
    } catch (err) {
      throw new ProviderError('config', (err as Error).message, false)
    }
    if (this.imported?.version === file.version) return this.imported
    const { importPKCS8 } = await import('jose')
    try {
      const alg = algorithmOf(file.value)
      const key = await importPKCS8(toPkcs8(file.value), alg)
      this.imported = { version: file.version, key, alg }
      return this.imported
    } catch {
      throw new ProviderError('config', `private_key_file ${this.key!.path} is not a usable PEM private key (EC P-256/384 or RSA)`, false)
    }
  }
}

/** application/x-www-form-urlencoded encoding of a client id or secret (RFC 6749 §2.3.1). */
function formEncode(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+')
}

function algorithmOf(pem: string): string {
  const k = createPrivateKey(pem)
  if (k.asymmetricKeyType === 'rsa') return 'RS256'
  if (k.asymmetricKeyType === 'ec') {
    const curve = k.asymmetricKeyDetails?.namedCurve
    if (curve === 'prime256v1') return 'ES256'
    if (curve === 'secp384r1') return 'ES384'
  }
  if (k.asymmetricKeyType === 'ed25519') return 'EdDSA'
  throw new Error('unsupported key type')
}

/** PKCS#8 PEM for jose, whatever PEM flavour (SEC1, PKCS#1) the file holds. */
function toPkcs8(pem: string): string {
  return createPrivateKey(pem).export({ type: 'pkcs8', format: 'pem' }).toString()
}
