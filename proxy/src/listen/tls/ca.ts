// The per-pod certificate authority that signs the leaf certificates of intercepted TLS.
// Either generated at start (ECDSA P-256, short validity, key only ever in this process's memory)
// or loaded from a mounted certificate + key. Its certificate (never its key) is published to a
// file the agent container shares, so the agent trusts it via SSL_CERT_FILE & co.
// All X.509 work goes through @peculiar/x509 over Node's WebCrypto: no hand-written ASN.1.

import { webcrypto, createPrivateKey, randomBytes, X509Certificate as NodeX509 } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { x509 } from './x509.ts'
import { writeAtomically } from './trust-files.ts'

/** Signing algorithms this CA can use for its key (the one it generates is ECDSA P-256). */
type SigningAlgorithm = webcrypto.EcKeyImportParams & webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams

export const P256: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }

export interface CaOptions {
  /** Mounted CA certificate (PEM). Must come with keyFile. */
  certFile?: string
  keyFile?: string
  /** Validity of a generated CA (default 168 h). Ignored for a mounted CA. */
  validityHours?: number
  /** Common name of a generated CA. */
  commonName?: string
  now?: () => Date
}

export const DEFAULT_CA_VALIDITY_HOURS = 168
/** Certificates are back-dated a little so clients with a slightly slow clock accept them. */
export const CLOCK_SKEW_MS = 5 * 60_000

export class CaError extends Error {
  override readonly name = 'CaError'
}

export class CertificateAuthority {
  /** The CA certificate, as @peculiar/x509 sees it. */
  readonly certificate: x509.X509Certificate
  readonly certPem: string
  /** Signing key: non-extractable when generated, so it cannot leave this process even by mistake. */
  readonly signingKey: webcrypto.CryptoKey
  readonly signingAlgorithm: SigningAlgorithm
  readonly origin: 'generated' | 'mounted'

  private constructor(certificate: x509.X509Certificate, signingKey: webcrypto.CryptoKey, signingAlgorithm: SigningAlgorithm, origin: 'generated' | 'mounted') {
    this.certificate = certificate
    this.certPem = certificate.toString('pem') + '\n'
    this.signingKey = signingKey
    this.signingAlgorithm = signingAlgorithm
    this.origin = origin
  }

  get notAfter(): Date { return this.certificate.notAfter }
  get subject(): string { return this.certificate.subject }

  /** Generates a CA (cert+key both absent) or loads the mounted one; anything in between is an error. */
  static async create(opts: CaOptions = {}): Promise<CertificateAuthority> {
    if (opts.certFile !== undefined || opts.keyFile !== undefined) {
      if (opts.certFile === undefined || opts.keyFile === undefined) throw new CaError('tls.ca: cert_file and key_file must be given together')
      return CertificateAuthority.load(opts.certFile, opts.keyFile, opts.now?.() ?? new Date())
    }
    return CertificateAuthority.generate(opts)
  }

  static async generate(opts: CaOptions = {}): Promise<CertificateAuthority> {
    const now = opts.now?.() ?? new Date()
    const hours = opts.validityHours ?? DEFAULT_CA_VALIDITY_HOURS
    if (!Number.isInteger(hours) || hours < 1) throw new CaError('tls.ca.validity_hours must be a positive integer')
    // Generated extractable=false: the private key cannot be exported from WebCrypto at all.
    const keys = (await webcrypto.subtle.generateKey(P256, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
    const cn = opts.commonName ?? `toolgate per-pod CA ${randomBytes(4).toString('hex')}`
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: [{ CN: [cn] }, { O: ['toolgate'] }],
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(now.getTime() + hours * 3_600_000),
      signingAlgorithm: P256,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true), // may sign leaves only, no sub-CAs
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    })
    return new CertificateAuthority(cert, keys.privateKey, P256, 'generated')
  }

  static async load(certFile: string, keyFile: string, now = new Date()): Promise<CertificateAuthority> {
    let certPem: string
    let keyPem: string
    try {
      certPem = await readFile(certFile, 'utf8')
      keyPem = await readFile(keyFile, 'utf8')
    } catch (err) {
      throw new CaError(`tls.ca: cannot read the mounted CA: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    let cert: x509.X509Certificate
    try {
      cert = new x509.X509Certificate(firstPemBlock(certPem, 'CERTIFICATE'))
    } catch (err) {
      throw new CaError(`tls.ca.cert_file ${basename(certFile)} is not a PEM certificate: ${(err as Error).message}`)
    }
    const bc = cert.getExtension(x509.BasicConstraintsExtension)
    if (!bc?.ca) throw new CaError(`tls.ca.cert_file ${basename(certFile)} is not a CA certificate (basicConstraints cA is not set)`)
    const ku = cert.getExtension(x509.KeyUsagesExtension)
    if (ku && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) throw new CaError(`tls.ca.cert_file ${basename(certFile)} may not sign certificates (keyUsage lacks keyCertSign)`)
    if (cert.notAfter.getTime() <= now.getTime()) throw new CaError(`tls.ca.cert_file ${basename(certFile)} expired at ${cert.notAfter.toISOString()}`)

    // Node parses every key format (PKCS#8, SEC1, PKCS#1, encrypted is refused); the error text of
    // a bad key never includes key material.
    let keyObject
    try {
      keyObject = createPrivateKey({ key: keyPem, format: 'pem' })
    } catch (err) {
      throw new CaError(`tls.ca.key_file ${basename(keyFile)} is not a usable private key (${(err as NodeJS.ErrnoException).code ?? 'parse error'})`)
    }
    if (!new NodeX509(certPem).checkPrivateKey(keyObject)) throw new CaError('tls.ca: key_file does not belong to cert_file')
    const algorithm = signingAlgorithmFor(keyObject.asymmetricKeyType, keyObject.asymmetricKeyDetails?.namedCurve)
    const signingKey = await webcrypto.subtle.importKey('pkcs8', keyObject.export({ type: 'pkcs8', format: 'der' }), algorithm, false, ['sign'])
    return new CertificateAuthority(cert, signingKey, algorithm, 'mounted')
  }

  /**
   * Writes the CA certificate, followed by `alsoTrusted` (PEM certificates), atomically. The
   * agent's SSL_CERT_FILE / REQUESTS_CA_BUNDLE replace its trust store, so the published bundle
   * carries the public roots too: passthrough tunnels still present the real certificates.
   */
  async publish(path: string, alsoTrusted: readonly string[] = []): Promise<void> {
    const content = [this.certPem.trimEnd(), ...alsoTrusted.map((pem) => pem.trimEnd())].join('\n') + '\n'
    try {
      await writeAtomically(path, content)
    } catch (err) {
      throw new CaError(`tls.ca.publish_cert_to: cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
}

function signingAlgorithmFor(type: string | undefined, curve: string | undefined): SigningAlgorithm {
  if (type === 'ec') {
    if (curve === 'prime256v1' || curve === 'P-256') return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
    if (curve === 'secp384r1' || curve === 'P-384') return { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' }
    throw new CaError(`tls.ca.key_file: unsupported EC curve ${curve ?? '?'} (P-256 or P-384)`)
  }
  if (type === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }
  throw new CaError(`tls.ca.key_file: unsupported key type ${type ?? '?'} (EC P-256/P-384 or RSA)`)
}

function firstPemBlock(text: string, label: string): string {
  const m = new RegExp(`-----BEGIN ${label}-----[\\s\\S]+?-----END ${label}-----`).exec(text)
  if (!m) throw new Error(`no ${label} block`)
  return m[0]
}

/** 16 random bytes with the top bit clear (serials must be positive, RFC 5280 4.1.2.2). */
export function randomSerial(): string {
  const b = randomBytes(16)
  b[0] = b[0]! & 0x7f | 0x01
  return b.toString('hex')
}
