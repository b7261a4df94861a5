// Sends one absolute-form request to a forward proxy with node:http (which sends the target as
// given, like curl -x), and collects the whole answer.
import { request } from 'node:http'

export interface ProxyResponse {
  status: number
  headers: import('node:http').IncomingHttpHeaders
  body: string
  json<T = any>(): T
}

/** `signal` aborts the request (the promise rejects with an AbortError). */
export function viaProxy(proxyUrl: string, method: string, url: string, opts: { headers?: Record<string, string>; body?: string | Buffer; signal?: AbortSignal } = {}): Promise<ProxyResponse> {
  const proxy = new URL(proxyUrl)
  const target = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ host: proxy.hostname, port: proxy.port, method, path: url, headers: { host: target.host, ...opts.headers }, agent: false, ...(opts.signal ? { signal: opts.signal } : {}) }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(opts.body)
  })
}
