// OAuth2 client authentication at the token and revocation endpoints, by oauth4webapi:
// client_secret_basic and client_secret_post (RFC 6749 §2.3.1), private_key_jwt (RFC 7523 §2.2)
// or none (public client). What stays here is where the secret material comes from: secret and
// key files are re-read when they change (SecretFile), and a PEM key of any common flavour
// (PKCS#8, SEC1, PKCS#1) is imported once per file version.

import { createPrivateKey, webcrypto } from 'node:crypto'
import * as oauth from 'oauth4webapi'
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

export class ClientAuth {
  readonly method: ClientAuthMethod
  private readonly keyId: string | undefined
  private readonly secret: SecretFile | null
  private readonly key: SecretFile | null
  private imported: { version: string; key: webcrypto.CryptoKey } | null = null

  constructor(config: ClientAuthConfig, configDir: string) {
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

  /**
   * The oauth4webapi client authentication for one request to `endpoint`. Built per request:
   * files may have changed, and a private_key_jwt assertion (fresh jti, 60 s lifetime) names the
   * endpoint it is sent to as its audience (RFC 7523 §3 allows the endpoint URL; oauth4webapi's
   * default, the issuer, is not known to toolgate's config).
   */
  async forEndpoint(endpoint: string): Promise<oauth.ClientAuth> {
    switch (this.method) {
      case 'none':
        return oauth.None()
      case 'client_secret_post':
        return oauth.ClientSecretPost(await this.readSecret())
      case 'client_secret_basic':
        return oauth.ClientSecretBasic(await this.readSecret())
      case 'private_key_jwt': {
        const key = await this.signingKey()
        return oauth.PrivateKeyJwt({ key, ...(this.keyId ? { kid: this.keyId } : {}) }, {
          [oauth.modifyAssertion]: (header, payload) => {
            payload.aud = endpoint
            // oauth4webapi names Ed25519 'Ed25519' (RFC 9864); most issuers still expect 'EdDSA'.
            if (header.alg === 'Ed25519') header.alg = 'EdDSA'
          },
        })
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

  private async signingKey(): Promise<webcrypto.CryptoKey> {
    let file
    try {
      file = await this.key!.read()
    } catch (err) {
      throw new ProviderError('config', (err as Error).message, false)
    }
    if (this.imported?.version === file.version) return this.imported.key
    try {
      const key = await importSigningKey(file.value)
      this.imported = { version: file.version, key }
      return key
    } catch {
      throw new ProviderError('config', `private_key_file ${this.key!.path} is not a usable PEM private key (EC P-256/384, RSA or Ed25519)`, false)
    }
  }
}

/** A non-extractable WebCrypto signing key from a PEM private key of any common flavour. */
async function importSigningKey(pem: string): Promise<webcrypto.CryptoKey> {
  const k = createPrivateKey(pem)
  const der = k.export({ type: 'pkcs8', format: 'der' })
  let alg: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm
  if (k.asymmetricKeyType === 'rsa') alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
  else if (k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1') alg = { name: 'ECDSA', namedCurve: 'P-256' }
  else if (k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'secp384r1') alg = { name: 'ECDSA', namedCurve: 'P-384' }
  else if (k.asymmetricKeyType === 'ed25519') alg = { name: 'Ed25519' }
  else throw new Error('unsupported key type')
  return webcrypto.subtle.importKey('pkcs8', der, alg, false, ['sign'])
}
