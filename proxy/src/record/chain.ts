// Tamper-evident record stream. Every record line carries `seq` (its position in the segment) and
// `prev` (the sha256 of the previous line's exact bytes), so deleting, editing or reordering a
// line breaks the chain at that point. A segment starts with a `chain_start` record (seq 0) that
// names the signing key and links to the last line already in the file when appending; at an
// interval, and when the sidecar stops, a `checkpoint` record is written whose ES256 signature
// covers its own bytes, and so (through `prev`) every line before it. The public key is published
// in the admin listener's JWKS. `toolgate verify-records` (record/verify.ts) checks a stream.
//
// Serialisation happens here, once: the hash is taken over the bytes that are written.

import { hash, sign as ecSign, type KeyObject } from 'node:crypto'
import type { RecordFields } from './records.ts'
import type { RecordSigner } from './signer.ts'
import { jsonText } from './json-line.ts'

export const CHAIN_START = 'chain_start'
export const CHECKPOINT = 'checkpoint'

export function lineHash(line: string | Buffer): string {
  // One-shot hash: no Hash object per record (this runs once per record on the hot path).
  return hash('sha256', line, 'hex')
}

/** Appends the signature as the last member: `{...body,"sig":"<base64url>"}`. Byte-exact to split. */
export function signLine(body: string, key: KeyObject): string {
  const sig = ecSign('sha256', Buffer.from(body), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')
  return `${body.slice(0, -1)},"sig":"${sig}"}`
}

/** Splits a signed line back into the signed bytes and the signature, or null if it has none. */
export function splitSignedLine(line: string): { body: string; sig: Buffer } | null {
  const m = /^(\{.*),"sig":"([A-Za-z0-9_-]+)"\}$/s.exec(line)
  if (!m) return null
  return { body: `${m[1]}}`, sig: Buffer.from(m[2]!, 'base64url') }
}

export interface ChainOptions {
  signer: RecordSigner
  /** The last complete line already in the destination (appending to a file), so the new segment links to it. */
  previousLine?: Buffer | null
  now?: () => Date
}

export class RecordChain {
  private readonly signer: RecordSigner
  private readonly now: () => Date
  private seq = 0
  private prev: string | null
  private sinceCheckpoint = 0
  private lastCheckpointSeq: number | null = null

  constructor(opts: ChainOptions) {
    this.signer = opts.signer
    this.now = opts.now ?? (() => new Date())
    this.prev = opts.previousLine ? lineHash(opts.previousLine) : null
  }

  /** The first line of a segment: signed, so a forged segment start is detected too. */
  start(): string {
    return this.append({ type: CHAIN_START, time: this.now().toISOString(), kid: this.signer.kid, jwk: this.signer.publicJwk, linked: this.prev !== null }, true)
  }

  /** The line for one record (the record object is not modified). */
  line(record: RecordFields): string {
    this.sinceCheckpoint++
    return this.append({ ...record }, false)
  }

  /** Records written since the last checkpoint. */
  pending(): number {
    return this.sinceCheckpoint
  }

  /** A signed checkpoint over everything so far; `final` marks the end of a segment (clean stop). */
  checkpoint(final = false): string {
    const from = this.lastCheckpointSeq === null ? 0 : this.lastCheckpointSeq + 1
    const body: RecordFields = { type: CHECKPOINT, time: this.now().toISOString(), kid: this.signer.kid, covers: { from_seq: from, to_seq: this.seq - 1 }, final }
    this.lastCheckpointSeq = this.seq
    this.sinceCheckpoint = 0
    return this.append(body, true)
  }

  private append(fields: RecordFields, signed: boolean): string {
    // seq and prev are set last so that a record field of the same name cannot replace them.
    delete fields['seq']
    delete fields['prev']
    delete fields['sig']
    fields['seq'] = this.seq
    fields['prev'] = this.prev
    // One line for every reader: Unicode line breaks escaped too (json-line.ts), before hashing.
    const body = jsonText(fields)
    const line = signed ? signLine(body, this.signer.privateKey) : body
    this.seq++
    this.prev = lineHash(line)
    return line
  }
}
