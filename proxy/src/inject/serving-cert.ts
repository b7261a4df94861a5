// The webhook's own CA and serving certificate (self-managed certificate mode). ECDSA P-256 via
// @peculiar/x509 over WebCrypto. Keys are exported as PKCS#8 PEM because they must be stored in a
// Secret (so every injector replica serves the same certificate) — unlike the per-pod CA of the
// sidecar, whose key never leaves its process.

import { randomBytes, webcrypto, X509Certificate as NodeX509 } from 'node:crypto'
import { x509 } from '../listen/tls/x509.ts'

const P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
const SKEW_MS = 5 * 60_000
const DAY_MS = 86_400_000

export interface PemPair {
  certPem: string
  keyPem: string
}

export interface ServingMaterial {
  ca: PemPair
  serving: PemPair
  /** PEM bundle the API server trusts (caBundle): the current CA, plus the previous one during a CA rotation. */
  caBundlePem: string
}

function serial(): string {
  const b = randomBytes(16)
  b[0] = b[0]! & 0x7f // positive INTEGER
  return b.toString('hex')
}

async function exportKey(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key)
  return x509.PemConverter.encode(der, 'PRIVATE KEY')
}

async function importKey(pem: string): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decode(pem)[0]!, P256, false, ['sign'])
}

export async function generateCa(commonName: string, validityDays: number, now = new Date()): Promise<PemPair> {
  const keys = (await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [commonName] }, { O: ['toolgate'] }],
    notBefore: new Date(now.getTime() - SKEW_MS),
    notAfter: new Date(now.getTime() + validityDays * DAY_MS),
    signingAlgorithm: P256,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  return { certPem: cert.toString('pem') + '\n', keyPem: await exportKey(keys.privateKey) + '\n' }
}

/** A serving certificate for `dnsNames`/`ips`, signed by `ca`. */
export async function issueServingCert(ca: PemPair, dnsNames: string[], ips: string[], validityDays: number, now = new Date()): Promise<PemPair> {
  const caCert = new x509.X509Certificate(ca.certPem)
  const caKey = await importKey(ca.keyPem)
  const keys = (await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const notAfter = new Date(Math.min(now.getTime() + validityDays * DAY_MS, caCert.notAfter.getTime()))
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [dnsNames[0] ?? ips[0] ?? 'toolgate-injector'] }],
    issuer: caCert.subjectName,
    notBefore: new Date(now.getTime() - SKEW_MS),
    notAfter,
    signingAlgorithm: P256,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
      new x509.SubjectAlternativeNameExtension([...dnsNames.map((value) => ({ type: 'dns' as const, value })), ...ips.map((value) => ({ type: 'ip' as const, value }))]),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  })
  return { certPem: cert.toString('pem') + '\n', keyPem: await exportKey(keys.privateKey) + '\n' }
}

export function notAfter(certPem: string): Date {
  return new Date(new NodeX509(certPem).validTo)
}

/** True when the certificate is past `renewFraction` of its lifetime (or unparsable). */
export function needsRenewal(certPem: string, now: Date, renewFraction = 2 / 3): boolean {
  try {
    const c = new NodeX509(certPem)
    const from = new Date(c.validFrom).getTime()
    const to = new Date(c.validTo).getTime()
    return now.getTime() >= from + (to - from) * renewFraction
  } catch {
    return true
  }
}

/** True when `serving` is signed by `ca` and names every DNS name wanted. */
export function servingMatches(serving: string, ca: string, dnsNames: string[]): boolean {
  try {
    const s = new NodeX509(serving)
    if (!s.checkIssued(new NodeX509(ca)) || !s.verify(new NodeX509(ca).publicKey)) return false
    const san = s.subjectAltName ?? ''
    return dnsNames.every((d) => san.includes(`DNS:${d}`))
  } catch {
    return false
  }
}
