// The trust files published beside the CA bundle for runtimes that do not read a PEM bundle from
// an environment variable:
//
// - a PKCS#12 truststore for Java (`-Djavax.net.ssl.trustStore=... -Djavax.net.ssl.trustStoreType=PKCS12`,
//   no password). Java's PKCS12KeyStore only loads a certificate bag as a *trusted* entry when the
//   bag carries Oracle's trusted-key-usage attribute (OID 2.16.840.1.113894.746875.1.1, value
//   anyExtendedKeyUsage 2.5.29.37.0); a bag without it is ignored. The store has no MAC and
//   unencrypted certificate bags, the shape `keytool -importcert` writes with
//   `keystore.pkcs12.certProtectionAlgorithm=NONE` / `macAlgorithm=NONE`, which Java 8u301+/11.0.12+/17
//   loads with a null password (what `javax.net.ssl.trustStore` without a password passes). Nothing
//   secret is in it: public certificates only.
// - a wgetrc (`ca_certificate = <bundle>`): GnuTLS wget ignores SSL_CERT_FILE; WGETRC points at it.
//
// The PKCS#12 structures are built with asn1js (the ASN.1 library under @peculiar/x509 and pkijs),
// not by hand: each certificate is one SafeBag in one unencrypted SafeContents. asn1js objects
// are built as one tree and encoded once per layer; @peculiar/asn1-pfx was tried first and took
// ~1.5 s of CPU (a loaded 2-core machine) for ~120 roots, because every enclosing layer re-parses
// the encoded bytes it embeds. This way it is a few tens of milliseconds (docs/tls.md).

import { randomBytes } from 'node:crypto'
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { X509Certificate } from 'node:crypto'
import { BmpString, Constructed, Integer, ObjectIdentifier, OctetString, Sequence, Set as AsnSet, type AsnType } from 'asn1js'

/** Oracle's PKCS#12 attribute that marks a certificate bag as a trusted certificate entry for Java. */
export const ORACLE_TRUSTED_KEY_USAGE = '2.16.840.1.113894.746875.1.1'
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0'
const FRIENDLY_NAME = '1.2.840.113549.1.9.20'
const ID_DATA = '1.2.840.113549.1.7.1'
const ID_CERT_BAG = '1.2.840.113549.1.12.10.1.3'
const ID_X509_CERTIFICATE = '1.2.840.113549.1.9.22.1'

/** One certificate of the truststore: its alias (keytool's "alias name") and its PEM or DER form. */
export interface TrustedCertificate {
  alias: string
  cert: string | Buffer
}

function der(cert: string | Buffer): Buffer {
  // node:crypto parses and validates; a malformed PEM throws here rather than producing a bad store.
  return Buffer.from(new X509Certificate(cert).raw)
}

/** [0] EXPLICIT <inner> */
function explicit0(inner: AsnType): Constructed {
  return new Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [inner] })
}

function attribute(attrId: string, value: AsnType): Sequence {
  return new Sequence({ value: [new ObjectIdentifier({ value: attrId }), new AsnSet({ value: [value] })] })
}

/** ContentInfo of type data: the content is the DER of `inner`, in an OCTET STRING. */
function dataContentInfo(inner: AsnType): Sequence {
  return new Sequence({ value: [new ObjectIdentifier({ value: ID_DATA }), explicit0(new OctetString({ valueHex: inner.toBER(false) }))] })
}

/**
 * A password-less, MAC-less PKCS#12 truststore holding `certs` as trusted certificate entries.
 * Aliases are made unique (Java keys entries by alias; a duplicate would silently replace one).
 */
export function buildTruststore(certs: readonly TrustedCertificate[]): Buffer {
  const seen = new Set<string>()
  // Parts every bag shares are built once (asn1js encodes an object the same wherever it sits):
  // building ~120 OID objects per store took most of its time.
  const certBagId = new ObjectIdentifier({ value: ID_CERT_BAG })
  const x509Id = new ObjectIdentifier({ value: ID_X509_CERTIFICATE })
  const friendlyNameId = new ObjectIdentifier({ value: FRIENDLY_NAME })
  const trusted = attribute(ORACLE_TRUSTED_KEY_USAGE, new ObjectIdentifier({ value: ANY_EXTENDED_KEY_USAGE }))
  const bags = certs.map(({ alias, cert }) => {
    let name = alias.toLowerCase() // Java lower-cases PKCS#12 aliases when it reads them
    for (let i = 2; seen.has(name); i++) name = `${alias.toLowerCase()}-${i}`
    seen.add(name)
    const certBag = new Sequence({ value: [x509Id, explicit0(new OctetString({ valueHex: der(cert) }))] })
    const friendlyName = new Sequence({ value: [friendlyNameId, new AsnSet({ value: [new BmpString({ value: name })] })] })
    return new Sequence({ value: [certBagId, explicit0(certBag), new AsnSet({ value: [friendlyName, trusted] })] })
  })
  const authenticatedSafe = new Sequence({ value: [dataContentInfo(new Sequence({ value: bags }))] })
  // No macData: there is no password to key a MAC with, and nothing in the store is secret.
  const pfx = new Sequence({ value: [new Integer({ value: 3 }), dataContentInfo(authenticatedSafe)] })
  return Buffer.from(pfx.toBER(false))
}

/** wgetrc content pointing GnuTLS wget at the CA bundle. */
export function wgetrc(caBundlePath: string): string {
  // wgetrc values run to the end of the line; a newline in the path would inject a second setting.
  if (/[\r\n]/.test(caBundlePath)) throw new Error('CA bundle path contains a line break')
  return `# Written by toolgate: wget (GnuTLS) ignores SSL_CERT_FILE, WGETRC points here.\nca_certificate = ${caBundlePath}\n`
}

/** Writes `content` to `path` atomically (temp file in the same directory + rename), mode 0644. */
export async function writeAtomically(path: string, content: string | Buffer): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  try {
    await mkdir(dirname(path), { recursive: true })
    await writeFile(tmp, content, { mode: 0o644 })
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
}

export interface TrustFileTargets {
  /** Where the PEM bundle is (the path written into the wgetrc); absolute. */
  bundle?: string
  /** Where to write the PKCS#12 truststore; absolute. */
  truststore?: string
  /** Where to write the wgetrc; absolute. Needs `bundle`. */
  wgetrc?: string
}

/**
 * Publishes the truststore (the CA first, then `roots`) and the wgetrc. Errors name the config
 * field and the file, nothing else (there is nothing secret in these files anyway).
 */
export async function publishTrustFiles(caPem: string, roots: readonly string[], targets: TrustFileTargets): Promise<void> {
  const write = async (field: string, path: string, content: () => string | Buffer) => {
    try {
      await writeAtomically(path, content())
    } catch (err) {
      throw new Error(`tls.ca.${field}: cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  if (targets.truststore !== undefined) {
    await write('publish_truststore_to', targets.truststore, () => buildTruststore([
      { alias: 'toolgate-ca', cert: caPem },
      ...roots.map((cert, i) => ({ alias: `public-root-${i}`, cert })),
    ]))
  }
  if (targets.wgetrc !== undefined) {
    const bundle = targets.bundle
    if (bundle === undefined) throw new Error('tls.ca.publish_wgetrc_to needs tls.ca.publish_cert_to (the bundle the wgetrc points at)')
    await write('publish_wgetrc_to', targets.wgetrc, () => wgetrc(bundle))
  }
}
