// Runs a toolgate with TLS interception and transparent listeners as its own process (the test
// starts it inside a network namespace, as an unprivileged UID, like the sidecar in a pod).
// argv: <config.yaml text file> <records out file>. Prints one JSON line with its listener
// addresses, then mirrors its decision records to the records file until SIGTERM.
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { startInterceptingGate } from '../../tls/helpers/gate.ts'

const [configFile, recordsFile] = process.argv.slice(2)
if (!configFile || !recordsFile) throw new Error('usage: gate-in-ns.ts <config> <records-out>')
const yaml = readFileSync(configFile, 'utf8')
const gate = await startInterceptingGate(() => yaml)
let written = -1
const timer = setInterval(() => {
  if (gate.records.length === written) return
  written = gate.records.length
  // Atomic (temp + rename): the test reads the file while it changes.
  writeFileSync(recordsFile + '.tmp', JSON.stringify(gate.records))
  renameSync(recordsFile + '.tmp', recordsFile)
}, 50)
process.stdout.write(JSON.stringify({ proxy: gate.proxyUrl, http: gate.transparent.http?.port, tls: gate.transparent.tls?.port, ca: `${gate.dir}/ca.pem`, uid: process.getuid?.() }) + '\n')
process.on('SIGTERM', () => {
  clearInterval(timer)
  void gate.close().then(() => process.exit(0))
})
