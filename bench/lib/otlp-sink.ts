// A stand-in OTLP/HTTP receiver for the benchmark's tracing scenario: answers 200 with an empty
// protobuf body to every POST and counts what it received, so the benchmark measures the cost
// toolgate pays to build and export spans and log records, not a collector's.
import { createServer } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'

export async function startOtlpSink(): Promise<{ url: string; requests: () => number; bytes: () => number; close(): Promise<void> }> {
  let requests = 0
  let bytes = 0
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => { bytes += c.length })
    req.on('end', () => {
      requests++
      res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': 0 })
      res.end()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, requests: () => requests, bytes: () => bytes, close: () => new Promise((r) => server.close(() => r())) }
}
