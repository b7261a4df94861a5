// `static`: one secret from a file only the sidecar mounts. The token is the file content; a
// changed file makes every cached copy stale, so rotation needs no restart. Static secrets
// cannot be revoked by toolgate (rotate the file at the issuer instead).

import type { StaticProvider } from '../../config/schema.gen.ts'
import { SecretFile } from '../secret-file.ts'
import { ProviderError, type IssuedToken, type RevokeResult, type TokenProvider } from './provider.ts'

export class StaticTokenProvider implements TokenProvider {
  readonly type = 'static'
  private readonly file: SecretFile

  constructor(config: StaticProvider, configDir: string, opts: { checkMs?: number; now?: () => number } = {}) {
    this.file = new SecretFile(config.secret_file, configDir, opts)
  }

  async issue(): Promise<IssuedToken> {
    try {
      const s = await this.file.read()
      return { token: s.value, expiresAt: null, version: s.version }
    } catch (err) {
      throw new ProviderError('config', (err as Error).message, false)
    }
  }

  async isCurrent(token: IssuedToken): Promise<boolean> {
    try {
      return (await this.file.read()).version === token.version
    } catch {
      return false
    }
  }

  async revoke(): Promise<RevokeResult> {
    return 'not_supported'
  }

  async close(): Promise<void> {}
}
