// The trust files published beside the CA bundle: a password-less PKCS#12 truststore that the real
// JDK keytool reads as trusted-certificate entries (Java ignores certificate bags without Oracle's
// trusted-key-usage attribute), and a wgetrc. The client matrix (test/clients/) runs a real Java
// HttpClient and a real wget against these files through toolgate.
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rootCertificates } from 'node:tls'
import { promisify } from 'node:util'
import { CertificateAuthority } from '../../proxy/src/listen/tls/ca.ts'
import { buildTruststore, publishTrustFiles, wgetrc } from '../../proxy/src/listen/tls/trust-files.ts'

const exec = promisify(execFile)

t.test('keytool lists the CA and every public root as trusted entries, with no password', async (t) => {
  const ca = await CertificateAuthority.generate({ commonName: 'trust-files test CA' })
  const dir = mkdtempSync(join(tmpdir(), 'tg-trust-'))
  const store = join(dir, 'truststore.p12')
  const bundle = join(dir, 'ca.crt')
  await ca.publish(bundle, rootCertificates)
  await publishTrustFiles(ca.certPem, rootCertificates, { bundle, truststore: store, wgetrc: join(dir, 'wgetrc') })
  // keytool with no -storepass and stdin closed: it loads the store with a null password, as
  // javax.net.ssl.trustStore without trustStorePassword does.
  const { stdout } = await exec('keytool', ['-list', '-v', '-keystore', store, '-storetype', 'PKCS12'], { timeout: 30_000 })
  const entries = stdout.match(/Entry type: trustedCertEntry/g) ?? []
  t.equal(entries.length, rootCertificates.length + 1, 'every certificate is a trustedCertEntry')
  t.match(stdout, /Alias name: toolgate-ca\n[\s\S]*?Owner: O=toolgate, CN=trust-files test CA/, 'the CA under its alias')
  t.notMatch(stdout, /PrivateKeyEntry/, 'no key in the store')
  t.equal(readFileSync(join(dir, 'wgetrc'), 'utf8').split('\n').find((l) => l.startsWith('ca_certificate')), `ca_certificate = ${bundle}`)
})

t.test('aliases stay unique; bad input is refused', async (t) => {
  const store = buildTruststore([{ alias: 'A', cert: rootCertificates[0]! }, { alias: 'a', cert: rootCertificates[1]! }])
  const dir = mkdtempSync(join(tmpdir(), 'tg-trust-'))
  const file = join(dir, 's.p12')
  await import('node:fs/promises').then((fs) => fs.writeFile(file, store))
  const { stdout } = await exec('keytool', ['-list', '-keystore', file, '-storetype', 'PKCS12'], { timeout: 30_000 })
  t.match(stdout, /Your keystore contains 2 entries/, 'a duplicate alias does not replace the first certificate')
  t.throws(() => buildTruststore([{ alias: 'x', cert: 'not a certificate' }]), 'a malformed certificate throws instead of writing a broken store')
  t.throws(() => wgetrc('/ca.crt\nhttps_proxy = http://evil'), /line break/, 'a path cannot inject a second wgetrc setting')
  await t.rejects(publishTrustFiles('x', [], { wgetrc: join(dir, 'w') }), /publish_cert_to/, 'a wgetrc needs the bundle it points at')
  await t.rejects(publishTrustFiles(rootCertificates[0]!, [], { truststore: join(file, 'sub', 's.p12') }), /publish_truststore_to: cannot write/, 'an unwritable target names the field')
})
