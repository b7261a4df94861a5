// HTTP/2 specifics of forwarding: gRPC requests (which need h2 upstream and `te: trailers`) and
// response trailers, which only an HTTP/2 client can receive from toolgate (gRPC carries its
// status in them). For an h2 client the response body goes through a sink that does not end the
// client response, so the upstream's trailers (known only once its body has ended) can be added,
// after the reflection guard has looked at them, before the stream is ended.

import { Writable } from 'node:stream'
import type { ServerResponse } from 'node:http'
import { Http2ServerResponse } from 'node:http2'
import { isHopByHop } from './hop-by-hop.ts'
import type { ReflectionGuard } from './reflection-guard.ts'

/** A gRPC call: content-type application/grpc (or +proto, ;charset...), not gRPC-Web. */
export function isGrpcRequest(headers: readonly (readonly [string, string])[]): boolean {
  return headers.some(([n, v]) => n.toLowerCase() === 'content-type' && /^application\/grpc(\+|;|$)/i.test(v.trim()))
}

/** gRPC servers expect `te: trailers` (classify drops TE as hop-by-hop): it is sent for gRPC only. */
export function withGrpcTe(headers: [string, string][]): [string, string][] {
  return [...headers, ['te', 'trailers']]
}

/** True when the client response is HTTP/2 (so trailers can reach the client). */
export function carriesTrailers(res: ServerResponse): boolean {
  return (res as unknown) instanceof Http2ServerResponse
}

/** Writes into `res` without ending it (the caller ends it, with trailers, once they are known). */
export function holdEnd(res: ServerResponse): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      if (res.destroyed) { cb(new Error('client went away')); return }
      if (res.write(chunk)) cb()
      else res.once('drain', () => cb())
    },
    final(cb) { cb() },
    destroy(err, cb) { if (err) res.destroy(); cb(err) },
  })
}

/**
 * Ends an h2 client response with the upstream's trailers (hop-by-hop and pseudo fields dropped).
 * Returns false when the reflection guard found the injected credential in them: the stream is
 * reset instead, and the client never sees them.
 */
export function endWithTrailers(res: ServerResponse, trailers: Record<string, string | string[] | undefined> | null | undefined, guard: ReflectionGuard | undefined): boolean {
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(trailers ?? {})) {
    if (value === undefined || name.startsWith(':') || isHopByHop(name)) continue
    out[name] = value
  }
  if (guard && Object.keys(out).length > 0 && guard.headers(out) === 'block') {
    res.destroy()
    return false
  }
  if (Object.keys(out).length > 0) res.addTrailers(out)
  res.end()
  return true
}
