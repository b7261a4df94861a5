// Fetches bundle bytes from where the config says they are. HTTP follows OPA's bundle service
// protocol for polling: GET the bundle URL with If-None-Match set to the last ETag; 304 means
// unchanged; 200 carries a new .tar.gz. Bounded: a response larger than the archive limit, or
// slower than the timeout, is a failure. Redirects are not followed (a bundle server that
// redirects is misconfigured, and following them silently would change who we trust).

import { readFile } from 'node:fs/promises'
import { Agent, request } from 'undici'
import type { Dispatcher } from 'undici'
import { assetPath } from '../../assets.ts'

export type FetchOutcome =
  | { kind: 'unchanged' }
  | { kind: 'bundle'; bytes: Buffer; etag: string | null }

export class BundleFetchError extends Error {
  override name = 'BundleFetchError'
}

/** The committed default bundle, built from policy/src by scripts/build-policy.js. */
export const EMBEDDED_BUNDLE_PATH = assetPath('policy/default-bundle.tar.gz')

export async function readBundleFile(path: string, maxBytes: number): Promise<Buffer> {
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    throw new BundleFetchError(`cannot read bundle file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  if (bytes.length > maxBytes) throw new BundleFetchError(`bundle file ${path} is ${bytes.length} bytes, above the ${maxBytes} limit`)
  return bytes
}

export interface HttpBundleClientOptions {
  url: string
  /** PEM CA bundle to trust for https (in addition to nothing: the system store is not used when set). */
  ca?: string
  timeoutMs: number
  maxBytes: number
}

export class HttpBundleClient {
  readonly #url: string
  readonly #dispatcher: Dispatcher
  readonly #timeoutMs: number
  readonly #maxBytes: number

  constructor(opts: HttpBundleClientOptions) {
    this.#url = opts.url
    this.#timeoutMs = opts.timeoutMs
    this.#maxBytes = opts.maxBytes
    this.#dispatcher = new Agent({
      connect: { timeout: opts.timeoutMs, ...(opts.ca ? { ca: opts.ca } : {}) },
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      connections: 2,
    })
  }

  async fetch(etag: string | null): Promise<FetchOutcome> {
    const headers: Record<string, string> = { accept: 'application/gzip, application/octet-stream' }
    if (etag !== null) headers['if-none-match'] = etag
    let res: Dispatcher.ResponseData
    try {
      res = await request(this.#url, { method: 'GET', headers, dispatcher: this.#dispatcher, signal: AbortSignal.timeout(this.#timeoutMs) })
    } catch (err) {
      throw new BundleFetchError(`bundle server ${this.#url} unreachable: ${(err as Error).message}`)
    }
    if (res.statusCode === 304) {
      await res.body.dump()
      return { kind: 'unchanged' }
    }
    if (res.statusCode !== 200) {
      await res.body.dump()
      throw new BundleFetchError(`bundle server ${this.#url} answered ${res.statusCode}`)
    }
    const declared = Number(res.headers['content-length'] ?? NaN)
    if (declared > this.#maxBytes) {
      await res.body.dump()
      throw new BundleFetchError(`bundle from ${this.#url} is ${declared} bytes, above the ${this.#maxBytes} limit`)
    }
    const chunks: Buffer[] = []
    let size = 0
    try {
      for await (const chunk of res.body) {
        size += (chunk as Buffer).length
        if (size > this.#maxBytes) {
          res.body.destroy()
          throw new BundleFetchError(`bundle from ${this.#url} exceeds the ${this.#maxBytes} byte limit`)
        }
        chunks.push(chunk as Buffer)
      }
    } catch (err) {
      if (err instanceof BundleFetchError) throw err
      throw new BundleFetchError(`bundle download from ${this.#url} failed: ${(err as Error).message}`)
    }
    const tag = res.headers['etag']
    return { kind: 'bundle', bytes: Buffer.concat(chunks), etag: typeof tag === 'string' ? tag : null }
  }

  async close(): Promise<void> {
    await this.#dispatcher.close()
  }
}
