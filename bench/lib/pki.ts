// Throw-away PKI generated at run time for the HTTPS benchmark: a CA and a server certificate
// for 127.0.0.1/localhost signed by it (ECDSA P-256), written as PEM files. Nothing here is a
// secret worth protecting; the key files are still written 0600 because toolgate's CA loader may
// (rightly) insist on it.
import 'reflect-metadata' // @peculiar/x509's DI container needs it loaded first
import { webcrypto, KeyObject, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

const P256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const
const DAY = 86_400_000

export interface PkiFiles { caCert: string; caKey: string; serverCert: string; serverKey: string }

function keyPem(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }) as string
}

export async function writeTestPki(dir: string, label = 'bench'): Promise<PkiFiles> {
  const now = Date.now()
  const caKeys = (await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(8).toString('hex'),
    name: `CN=toolgate ${label} test CA`,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + DAY),
    signingAlgorithm: P256,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  })
  const leafKeys = (await webcrypto.subtle.generateKey(P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomBytes(8).toString('hex'),
    subject: 'CN=localhost',
    issuer: ca.subject,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + DAY),
    signingAlgorithm: P256,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }, { type: 'ip', value: '127.0.0.1' }]),
      await x509.AuthorityKeyIdentifierExtension.create(ca),
    ],
  })
  const files: PkiFiles = {
    caCert: join(dir, `${label}-ca.pem`),
    caKey: join(dir, `${label}-ca.key`),
    serverCert: join(dir, `${label}-server.pem`),
    serverKey: join(dir, `${label}-server.key`),
  }
  writeFileSync(files.caCert, ca.toString('pem') + '\n')
  writeFileSync(files.caKey, keyPem(caKeys.privateKey), { mode: 0o600 })
  writeFileSync(files.serverCert, leaf.toString('pem') + '\n')
  writeFileSync(files.serverKey, keyPem(leafKeys.privateKey), { mode: 0o600 })
  return files
}
