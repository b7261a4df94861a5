// The one certificate helper of the tests and benchmarks: a throw-away CA and server
// certificates signed by it, made with the openssl CLI at run time (independent of toolgate's
// own X.509 code, so a bug there cannot hide behind a matching bug here). ECDSA P-256; keys are
// written 0600 (toolgate's CA loader may rightly insist) as PKCS#8.
import { execFileSync } from 'node:child_process'
import { chmodSync, readFileSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'

export interface TestCa { certFile: string; keyFile: string; pem: string }
export interface ServerCert { cert: string; key: string; certFile: string; keyFile: string }

function newKey(keyFile: string): void {
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile])
  chmodSync(keyFile, 0o600)
}

/** A CA certificate (2 days) and its key, as `<dir>/<name>.crt` and `<dir>/<name>.key`. */
export function makeTestCa(dir: string, name: string): TestCa {
  const keyFile = join(dir, `${name}.key`)
  const certFile = join(dir, `${name}.crt`)
  newKey(keyFile)
  execFileSync('openssl', ['req', '-x509', '-new', '-key', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'])
  return { certFile, keyFile, pem: readFileSync(certFile, 'utf8') }
}

/** A server certificate for `hosts` (names and IP literals), signed by `ca`. */
export function makeServerCert(dir: string, ca: TestCa, name: string, hosts: string[]): ServerCert {
  const keyFile = join(dir, `${name}.key`)
  const csr = join(dir, `${name}.csr`)
  const certFile = join(dir, `${name}.crt`)
  const ext = join(dir, `${name}.ext`)
  const san = hosts.map((h) => (isIP(h) !== 0 ? `IP:${h}` : `DNS:${h}`)).join(',')
  writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`)
  newKey(keyFile)
  execFileSync('openssl', ['req', '-new', '-key', keyFile, '-out', csr, '-subj', `/CN=${hosts[0]}`])
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', certFile, '-days', '2', '-extfile', ext], { stdio: 'ignore' })
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile, keyFile }
}
