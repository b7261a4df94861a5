// toolgate with TLS interception as its own process for the HTTPS benchmark (the same wiring the
// TLS tests use). Records are kept in memory by that wiring, so they are dropped every second.
import { readFileSync } from 'node:fs'
import { startInterceptingGate } from '../../test/tls/helpers/gate.ts'

const yaml = readFileSync(process.argv[2]!, 'utf8')
const gate = await startInterceptingGate(() => yaml)
setInterval(() => { gate.records.length = 0; gate.logs.length = 0 }, 1000)
process.stdout.write(JSON.stringify({ proxy: gate.proxyUrl, ca: `${gate.dir}/ca.pem` }) + '\n')
process.on('SIGTERM', () => { void gate.close().then(() => process.exit(0)) })
