// The webhook's HTTPS server. The serving certificate and key are files (a mounted Secret, or
// written by the self-managed certificate loop); they are re-read when their content changes and
// swapped in with setSecureContext, so a rotated certificate is served without a restart and
// without dropping connections.
//
// Routes: POST /inject/pod (webhook entry selected by pod label), POST /inject/namespace (entry
// selected by namespace label), GET /healthz, GET /readyz.

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from '../record/log.ts'
import { BadReviewError, parseReview, review } from './admission.ts'
import type { InjectorSettings } from './settings.ts'

/** AdmissionReview bodies are a pod plus envelope; the API server caps objects at ~1.5 MiB. */
const MAX_BODY = 3 * 1024 * 1024

export interface WebhookServerOptions {
  host: string
  port: number
  certFile: string
  keyFile: string
  settings: InjectorSettings
  log: Logger
  /** How often the cert/key files are checked for change (ms). */
  reloadIntervalMs?: number
}

export interface WebhookServer {
  server: Server
  port: number
  /** Re-reads cert and key now; true when they changed and were applied. */
  reloadCertificate(): boolean
  close(): Promise<void>
}

function readPair(certFile: string, keyFile: string): { cert: Buffer; key: Buffer; digest: string } {
  const cert = readFileSync(certFile)
  const key = readFileSync(keyFile)
  return { cert, key, digest: createHash('sha256').update(cert).update(key).digest('hex') }
}

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body)
  res.writeHead(code, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY) return null
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

export async function startWebhookServer(o: WebhookServerOptions): Promise<WebhookServer> {
  let current = readPair(o.certFile, o.keyFile)
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://injector')
    if (req.method === 'GET' && (url.pathname === '/healthz' || url.pathname === '/readyz')) return send(res, 200, 'ok\n')
    if (url.pathname !== '/inject/pod' && url.pathname !== '/inject/namespace') return send(res, 404, 'not found\n')
    if (req.method !== 'POST') return send(res, 405, 'method not allowed\n')
    const body = await readBody(req)
    if (body === null) return send(res, 413, 'AdmissionReview too large\n')
    let parsed: unknown
    try {
      parsed = JSON.parse(body.toString('utf8'))
    } catch {
      return send(res, 400, 'body is not JSON\n')
    }
    try {
      const request = parseReview(parsed)
      const response = review(request, o.settings, url.pathname === '/inject/namespace', o.log)
      return send(res, 200, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response })
    } catch (err) {
      if (err instanceof BadReviewError) return send(res, 400, `${err.message}\n`)
      o.log.error('admission failed', { error: (err as Error).message })
      return send(res, 500, 'internal error\n')
    }
  }
  const server = createServer({ cert: current.cert, key: current.key, minVersion: 'TLSv1.2' }, (req, res) => {
    handler(req, res).catch((err: unknown) => {
      o.log.error('request failed', { error: (err as Error).message })
      if (!res.headersSent) send(res, 500, 'internal error\n')
    })
  })
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  server.keepAliveTimeout = 30_000

  const reloadCertificate = (): boolean => {
    let next
    try {
      next = readPair(o.certFile, o.keyFile)
    } catch (err) {
      o.log.warn('serving certificate unreadable; keeping the current one', { error: (err as Error).message })
      return false
    }
    if (next.digest === current.digest) return false
    try {
      server.setSecureContext({ cert: next.cert, key: next.key })
    } catch (err) {
      // Mid-rotation the cert and key files can briefly disagree; the next tick retries.
      o.log.warn('serving certificate rejected; keeping the current one', { error: (err as Error).message })
      return false
    }
    current = next
    o.log.info('serving certificate reloaded', { sha256: next.digest.slice(0, 16) })
    return true
  }
  const timer = setInterval(reloadCertificate, o.reloadIntervalMs ?? 5_000)
  timer.unref()

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(o.port, o.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    server,
    port,
    reloadCertificate,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(timer)
        server.close(() => resolve())
        server.closeIdleConnections()
      }),
  }
}
