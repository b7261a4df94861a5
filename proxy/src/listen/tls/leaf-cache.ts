// Leaf certificates for intercepted hosts, minted on demand by the per-pod CA and kept in a
// bounded LRU cache (lru-cache) of ready tls.SecureContexts. Concurrent requests for one host share one
// minting; a leaf close to its expiry is minted again. All leaves of one cache share one ECDSA
// P-256 key pair (generated in memory at start): minting is then one signature, and the key is
// no more exposed than the CA key it sits next to.

import { webcrypto, KeyObject, randomBytes } from 'node:crypto'
import { isIP } from 'node:net'
import { createSecureContext, type SecureContext } from 'node:tls'
import { x509 } from './x509.ts'
import type { Counter, Registry } from 'prom-client'
import { counter } from '../../record/metric-table.ts'
import { LRUCache } from 'lru-cache'
import { CLOCK_SKEW_MS, P256, randomSerial, type CertificateAuthority } from './ca.ts'
import { canonicalHost, quote } from '../../classify/target.ts'

export interface Leaf {
  host: string
  certPem: string
  notAfter: Date
  context: SecureContext
}

export interface LeafCacheOptions {
  ca: CertificateAuthority
  /** Most leaves kept (LRU). Default 1000. */
  maxEntries?: number
  /** Validity of a leaf, capped at the CA's own expiry. Default 24 h. */
  validityHours?: number
  registry?: Registry
  now?: () => Date
}

interface Entry {
  leaf: Promise<Leaf>
  /** When to mint again (a margin before notAfter); Infinity until the minting resolves. */
  renewAt: number
}

export class LeafCache {
  private readonly ca: CertificateAuthority
  private readonly maxEntries: number
  private readonly validityMs: number
  private readonly now: () => Date
  private readonly entries: LRUCache<string, Entry>
  private keys: Promise<{ pair: webcrypto.CryptoKeyPair; keyPem: string }> | null = null
  private readonly minted: Counter<'result'> | null
  private readonly lookups: Counter<'result'> | null

  constructor(opts: LeafCacheOptions) {
    this.ca = opts.ca
    this.maxEntries = opts.maxEntries ?? 1000
    this.validityMs = (opts.validityHours ?? 24) * 3_600_000
    this.now = opts.now ?? (() => new Date())
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new Error('leaf cache size must be a positive integer')
    // Evicting a leaf needs no clean-up: a SecureContext holds no resource beyond memory.
    this.entries = new LRUCache<string, Entry>({ max: this.maxEntries })
    this.minted = opts.registry ? counter(opts.registry, 'toolgate_tls_leaf_mint_total') : null
    this.lookups = opts.registry ? counter(opts.registry, 'toolgate_tls_leaf_cache_lookups_total') : null
  }

  get size(): number { return this.entries.size }

  /** The leaf for `host` (canonical hostname or IP literal, IPv6 without brackets). */
  async get(host: string): Promise<Leaf> {
    const key = canonicalLeafHost(host)
    const now = this.now().getTime()
    const hit = this.entries.get(key) // get() also marks it most recently used
    if (hit && now < hit.renewAt) {
      this.lookups?.inc({ result: 'hit' })
      return hit.leaf
    }
    this.lookups?.inc({ result: 'miss' })
    const entry: Entry = { leaf: this.mint(key), renewAt: Number.POSITIVE_INFINITY }
    this.entries.set(key, entry) // evicts the least recently used leaf beyond maxEntries
    entry.leaf.then(
      (leaf) => {
        // Renew when 10 % of the lifetime is left, so a handshake never gets a leaf about to lapse.
        const lifetime = leaf.notAfter.getTime() - now
        entry.renewAt = leaf.notAfter.getTime() - Math.max(lifetime / 10, 60_000)
        this.minted?.inc({ result: 'ok' })
      },
      () => {
        // A failed minting is not cached: the next handshake tries again.
        if (this.entries.peek(key) === entry) this.entries.delete(key)
        this.minted?.inc({ result: 'error' })
      },
    )
    return entry.leaf
  }

  private leafKeys(): Promise<{ pair: webcrypto.CryptoKeyPair; keyPem: string }> {
    this.keys ??= (async () => {
      const pair = (await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
      const keyPem = KeyObject.from(pair.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string
      return { pair, keyPem }
    })()
    return this.keys
  }

  private async mint(host: string): Promise<Leaf> {
    const { pair, keyPem } = await this.leafKeys()
    const now = this.now().getTime()
    const notAfter = new Date(Math.min(now + this.validityMs, this.ca.notAfter.getTime()))
    if (notAfter.getTime() <= now) throw new Error('the per-pod CA has expired; restart toolgate to generate a new one')
    const ip = isIP(host) !== 0
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      // CN is limited to 64 characters; SAN is what clients check, so a long name goes in SAN only.
      subject: host.length <= 64 ? [{ CN: [host] }] : [{ O: ['toolgate'] }, { OU: [randomBytes(4).toString('hex')] }],
      issuer: this.ca.certificate.subjectName,
      notBefore: new Date(now - CLOCK_SKEW_MS),
      notAfter,
      signingAlgorithm: this.ca.signingAlgorithm,
      publicKey: pair.publicKey,
      signingKey: this.ca.signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: ip ? 'ip' : 'dns', value: host }]),
        await x509.AuthorityKeyIdentifierExtension.create(this.ca.certificate.publicKey),
        await x509.SubjectKeyIdentifierExtension.create(pair.publicKey),
      ],
    })
    const certPem = cert.toString('pem')
    const context = createSecureContext({ key: keyPem, cert: certPem, minVersion: 'TLSv1.2' })
    return { host, certPem, notAfter, context }
  }
}

/**
 * Validates and canonicalises a host for a leaf with the one host parser (classify/target.ts):
 * lower case, no trailing dot, IDN as A-labels, IPv6 compressed without brackets, IPv4 only as
 * dotted decimal. So a leaf is minted for exactly the host the allowlist matched.
 */
export function canonicalLeafHost(host: string): string {
  const h = canonicalHost(host)
  if (!h.ok) throw new Error(`cannot mint a certificate for host ${quote(host)}: ${h.reason}`)
  return h.host
}
