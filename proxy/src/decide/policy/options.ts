// PolicyEngineOptions from the resolved config's `policy` section: the one place that maps
// config field names to the engine's options, so start and reload read the config alike. Reads
// the signing key file; an unreadable key file does not throw: the engine then refuses every
// bundle with a reason naming the file (fail closed), which `toolgate check` and /readyz show.

import { readFileSync } from 'node:fs'
import type { Registry } from 'prom-client'
import type { Logger } from '../../record/log.ts'
import type { ResolvedConfig } from '../../config/resolved.ts'
import type { BundleSigning } from './bundle-signature.ts'
import type { PolicyEngineOptions } from './engine.ts'

const MAX_KEY_BYTES = 64 * 1024

export function signingFromConfig(signing: NonNullable<ResolvedConfig['policy']['signing']>): BundleSigning {
  let publicKeyPem = ''
  let keyError: string | undefined
  try {
    const bytes = readFileSync(signing.public_key)
    if (bytes.length > MAX_KEY_BYTES) keyError = `is larger than ${MAX_KEY_BYTES} bytes`
    // An HMAC secret file usually ends with a newline that is not part of the secret.
    else publicKeyPem = signing.algorithm?.startsWith('HS') ? bytes.toString('utf8').replace(/\r?\n$/, '') : bytes.toString('utf8')
  } catch (err) {
    keyError = `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`
  }
  return {
    publicKeyPem,
    keySource: signing.public_key,
    ...(keyError !== undefined ? { keyError } : {}),
    ...(signing.key_id !== undefined ? { keyId: signing.key_id } : {}),
    ...(signing.algorithm !== undefined ? { algorithm: signing.algorithm } : {}),
    ...(signing.scope !== undefined ? { scope: signing.scope } : {}),
  }
}

export function policyEngineOptions(policy: ResolvedConfig['policy'], registry: Registry, logger: Logger): PolicyEngineOptions {
  return {
    source: policy.bundle,
    entrypoint: policy.entrypoint,
    poll: { minDelayMs: policy.poll.min_delay_ms, maxDelayMs: policy.poll.max_delay_ms },
    extraData: policy.data,
    registry,
    logger,
    ...(policy.signing ? { signing: signingFromConfig(policy.signing) } : {}),
  }
}
