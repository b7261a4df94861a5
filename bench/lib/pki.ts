// Throw-away PKI for the HTTPS benchmark: a CA and a server certificate for 127.0.0.1/localhost
// signed by it, written as PEM files, by the one certificate helper the tests use
// (test/helpers/certificates.ts, the openssl CLI). Nothing here is a secret worth protecting; the
// key files are still written 0600 because toolgate's CA loader may (rightly) insist on it.
import { makeServerCert, makeTestCa } from '../../test/helpers/certificates.ts'

export interface PkiFiles { caCert: string; caKey: string; serverCert: string; serverKey: string }

export async function writeTestPki(dir: string, label = 'bench'): Promise<PkiFiles> {
  const ca = makeTestCa(dir, `${label}-ca`)
  const server = makeServerCert(dir, ca, `${label}-server`, ['localhost', '127.0.0.1'])
  return { caCert: ca.certFile, caKey: ca.keyFile, serverCert: server.certFile, serverKey: server.keyFile }
}
