// The digest that binds an approval to exactly one held call: method, canonical target and body.
// A signed approval decision carries it, so a decision for one call cannot release another (a
// different body, path or method gives another digest), and the webhook announcement carries it
// so an external approval service signs what it showed the human.
//
//   call_digest = base64url(sha256("toolgate-call-v1\n" + METHOD + "\n" + scheme://host:port/path?query + "\n" + hex(sha256(body))))

import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { ToolCall } from '../classify/toolcall.ts'
import { readBounded } from '../classify/bounded-body.ts'

export interface CallDigest {
  /** scheme://host:port/path?query, canonical (as decided and forwarded). */
  target: string
  bodySha256: string
  digest: string
}

export function callDigest(call: Pick<ToolCall, 'method' | 'target'>, body: Buffer | null): CallDigest {
  const t = call.target
  const host = t.host.includes(':') ? `[${t.host}]` : t.host
  const target = `${t.scheme}://${host}:${t.port}${t.path}${t.query === '' ? '' : `?${t.query}`}`
  const bodySha256 = createHash('sha256').update(body ?? Buffer.alloc(0)).digest('hex')
  const digest = createHash('sha256').update(`toolgate-call-v1\n${call.method}\n${target}\n${bodySha256}`).digest('base64url')
  return { target, bodySha256, digest }
}

/**
 * The body of a call about to be held for approval, read (bounded) so that its digest is known
 * and exactly those bytes are forwarded if it is approved. null: the body is larger than max.
 */
export async function bufferHeldBody(body: Readable | Buffer | null, max: number): Promise<Buffer | null> {
  if (body === null) return Buffer.alloc(0)
  if (Buffer.isBuffer(body)) return body
  return readBounded(body as AsyncIterable<Buffer>, max)
}
