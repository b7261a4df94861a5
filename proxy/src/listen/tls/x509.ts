// The one place @peculiar/x509 is imported: it needs a Reflect metadata polyfill loaded first
// (its DI container, tsyringe, checks for it at load time) and a WebCrypto provider.
import 'reflect-metadata'
import { webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

export { x509 }
