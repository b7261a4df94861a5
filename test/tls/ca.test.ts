// Per-pod CA and leaf minting, checked with independent parsers: Node's X509Certificate and
// the openssl CLI verify chains built from what toolgate produced.
import t from 'tap'
import { rootCertificates } from 'node:tls'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { X509Certificate, generateKeyPairSync } from 'node:crypto'
import { CertificateAuthority } from '../../proxy/src/listen/tls/ca.ts'
import { LeafCache, canonicalLeafHost } from '../../proxy/src/listen/tls/leaf-cache.ts'
import { Registry } from 'prom-client'

const dir = mkdtempSync(join(tmpdir(), 'toolgate-ca-'))

function opensslVerify(caPem: string, leafPem: string, host: string): string {
  const caFile = join(dir, `ca-${Math.random()}.pem`)
  const leafFile = join(dir, `leaf-${Math.random()}.pem`)
  writeFileSync(caFile, caPem)
  writeFileSync(leafFile, leafPem)
  const hostArg = /^[\d.]+$|:/.test(host) ? ['-verify_ip', host] : ['-verify_hostname', host]
  try {
    return execFileSync('openssl', ['verify', '-purpose', 'sslserver', ...hostArg, '-CAfile', caFile, leafFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    return String((err as { stdout?: string }).stdout ?? '') + String((err as { stderr?: string }).stderr ?? '')
  }
}

t.test('generated CA: ECDSA P-256, CA constraints, short validity', async (t) => {
  const ca = await CertificateAuthority.generate({ validityHours: 2 })
  const cert = new X509Certificate(ca.certPem)
  t.equal(cert.ca, true)
  t.equal(cert.publicKey.asymmetricKeyType, 'ec')
  t.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
  const lifetimeH = (Date.parse(cert.validTo) - Date.now()) / 3_600_000
  t.ok(lifetimeH > 1.9 && lifetimeH <= 2.01, `valid ~2h (got ${lifetimeH.toFixed(2)}h)`)
  t.equal(ca.signingKey.extractable, false, 'generated signing key cannot be exported')
  t.notMatch(ca.certPem, /PRIVATE KEY/)
  await t.rejects(CertificateAuthority.generate({ validityHours: 0 }), { name: 'CaError' })
})

t.test('publish writes only the certificate, atomically', async (t) => {
  const ca = await CertificateAuthority.generate()
  const out = join(dir, 'shared', 'ca.pem')
  await ca.publish(out)
  await ca.publish(out) // overwrite is fine
  const text = readFileSync(out, 'utf8')
  t.equal(text.trimEnd(), ca.certPem.trimEnd())
  t.notMatch(text, /PRIVATE KEY/)
  // With the public roots (what toolgate publishes for SSL_CERT_FILE): CA first, roots after.
  await ca.publish(out, rootCertificates)
  const bundle = readFileSync(out, 'utf8')
  t.ok(bundle.startsWith(ca.certPem.trimEnd()), 'the toolgate CA comes first')
  t.equal(bundle.match(/BEGIN CERTIFICATE/g)?.length, rootCertificates.length + 1, 'every public root follows')
  t.notMatch(bundle, /PRIVATE KEY/)
  t.same(readdirSync(join(dir, 'shared')), ['ca.pem'], 'no temp files left behind')
  writeFileSync(join(dir, 'plain-file'), 'x')
  await t.rejects(ca.publish(join(dir, 'plain-file', 'ca.pem')), { name: 'CaError' }, 'a path under a regular file cannot be written')
})

t.test('leaves: SAN dNSName / iPAddress, verified by openssl against the CA', async (t) => {
  const ca = await CertificateAuthority.generate()
  const leaves = new LeafCache({ ca })
  for (const host of ['api.example.test', '127.0.0.1', '::1']) {
    const leaf = await leaves.get(host)
    const out = opensslVerify(ca.certPem, leaf.certPem, host)
    t.match(out, /: OK/, `openssl verifies the leaf for ${host}: ${out.trim()}`)
    const c = new X509Certificate(leaf.certPem)
    t.equal(c.ca, false)
    t.ok(c.checkIssued(new X509Certificate(ca.certPem)))
  }
  const other = opensslVerify(ca.certPem, (await leaves.get('api.example.test')).certPem, 'evil.example.test')
  t.notMatch(other, /: OK/, 'the leaf is not valid for another host')
  const wrongCa = await CertificateAuthority.generate()
  t.notMatch(opensslVerify(wrongCa.certPem, (await leaves.get('api.example.test')).certPem, 'api.example.test'), /: OK/, 'another CA does not verify it')
})

t.test('leaf validity is capped at the CA expiry', async (t) => {
  const ca = await CertificateAuthority.generate({ validityHours: 1 })
  const leaves = new LeafCache({ ca, validityHours: 24 })
  const leaf = await leaves.get('a.test')
  t.ok(leaf.notAfter.getTime() <= ca.notAfter.getTime())
})

t.test('cache: concurrent gets share one minting, LRU bounded, invalid hosts refused', async (t) => {
  const ca = await CertificateAuthority.generate()
  const registry = new Registry()
  const leaves = new LeafCache({ ca, maxEntries: 3, registry })
  const [a, b, c] = await Promise.all([leaves.get('x.test'), leaves.get('X.test.'), leaves.get('x.test')])
  t.equal(a, b)
  t.equal(a, c)
  const metrics = await registry.getSingleMetricAsString('toolgate_tls_leaf_mint_total')
  t.match(metrics, /result="ok"} 1\n?/, 'minted once')
  await leaves.get('y.test')
  await leaves.get('z.test')
  await leaves.get('x.test') // x becomes most recent
  await leaves.get('w.test') // evicts y
  t.equal(leaves.size, 3)
  t.equal(await leaves.get('x.test'), a, 'recently used entry kept')
  await leaves.get('y.test')
  t.match(await registry.getSingleMetricAsString('toolgate_tls_leaf_mint_total'), /result="ok"} 5\n?/, 'the evicted y was minted again (x, y, z, w, y)')
  t.equal(leaves.size, 3, 'still bounded')
  for (const bad of ['', 'a b', 'a/b', '-x.test', 'x..test', 'a'.repeat(64) + '.test', 'host\r\nx', '0x7f.1', '127.1', '[::1', 'a@b.test']) {
    t.throws(() => canonicalLeafHost(bad), `refuses ${JSON.stringify(bad)}`)
  }
  // The one host parser (classify/target.ts) decides, so the leaf names the host the allowlist matched.
  t.equal(canonicalLeafHost('API.Example.TEST.'), 'api.example.test')
  t.equal(canonicalLeafHost('[0:0:0:0:0:0:0:1]'), '::1')
  t.equal(canonicalLeafHost('bücher.test'), 'xn--bcher-kva.test')
  t.equal(canonicalLeafHost('a_b.example.test'), 'a_b.example.test', 'the same "_" rule as config and classify')
  await t.rejects(leaves.get('bad host'))
})

t.test('leaf is minted again close to its expiry', async (t) => {
  const ca = await CertificateAuthority.generate({ validityHours: 48 })
  let now = Date.now()
  const leaves = new LeafCache({ ca, validityHours: 1, now: () => new Date(now) })
  const first = await leaves.get('renew.test')
  now += 55 * 60_000 // 5 minutes left of 60: under the 10 % margin
  const second = await leaves.get('renew.test')
  t.not(second, first)
  t.ok(second.notAfter > first.notAfter)
})

t.test('mounted CA: loads PEM cert + key, refuses mismatches, non-CAs, missing halves', async (t) => {
  // An independent CA made with the openssl CLI (EC P-256 key in SEC1 form).
  const keyFile = join(dir, 'mounted.key')
  const certFile = join(dir, 'mounted.crt')
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile])
  execFileSync('openssl', ['req', '-x509', '-new', '-key', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=mounted test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  const ca = await CertificateAuthority.create({ certFile, keyFile })
  t.equal(ca.origin, 'mounted')
  const leaf = await new LeafCache({ ca }).get('mounted.test')
  t.match(opensslVerify(readFileSync(certFile, 'utf8'), leaf.certPem, 'mounted.test'), /: OK/)

  // RSA CA works too.
  const rsaKey = join(dir, 'rsa.key')
  const rsaCert = join(dir, 'rsa.crt')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', rsaKey, '-out', rsaCert, '-days', '2', '-subj', '/CN=rsa CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'], { stdio: 'ignore' })
  const rsa = await CertificateAuthority.create({ certFile: rsaCert, keyFile: rsaKey })
  t.match(opensslVerify(readFileSync(rsaCert, 'utf8'), (await new LeafCache({ ca: rsa }).get('rsa.test')).certPem, 'rsa.test'), /: OK/)

  const otherKey = join(dir, 'other.key')
  writeFileSync(otherKey, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }))
  await t.rejects(CertificateAuthority.create({ certFile, keyFile: otherKey }), /does not belong/)
  await t.rejects(CertificateAuthority.create({ certFile }), /together/)
  await t.rejects(CertificateAuthority.create({ certFile: join(dir, 'nope.crt'), keyFile }), /ENOENT/)

  const leafKey = join(dir, 'leafonly.key')
  const leafCert = join(dir, 'leafonly.crt')
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', leafKey])
  execFileSync('openssl', ['req', '-x509', '-new', '-key', leafKey, '-out', leafCert, '-days', '2', '-subj', '/CN=not a ca', '-addext', 'basicConstraints=critical,CA:FALSE'])
  await t.rejects(CertificateAuthority.create({ certFile: leafCert, keyFile: leafKey }), /not a CA/)

  // Error messages never carry key material.
  writeFileSync(join(dir, 'garbage.key'), '-----BEGIN PRIVATE KEY-----\nU0VDUkVULUtFWS1NQVRFUklBTA==\n-----END PRIVATE KEY-----\n')
  const err = await CertificateAuthority.create({ certFile, keyFile: join(dir, 'garbage.key') }).catch((e: Error) => e)
  t.equal((err as Error).name, 'CaError')
  t.notMatch((err as Error).message, /U0VDUkVU|SECRET/)
})
