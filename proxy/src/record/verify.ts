// Checks a record stream written by record/chain.ts and reports the first place where it was
// changed: a line whose hash is not the `prev` of the next one (edit), a jump in `seq` (gap: lines
// deleted), a `seq` out of order (reorder), a line that is not a chained record, or a signature
// that does not verify. What the chain alone cannot prove is reported as a warning: records after
// the last signed checkpoint, a segment without its closing checkpoint, keys that were not pinned.
//
// The file is read as bytes and split on \n, so the hash is taken over exactly what toolgate
// wrote. Two passes at most: the second only to tell a reorder from a gap.

import { createReadStream } from 'node:fs'
import { createPublicKey, verify as ecVerify, type KeyObject } from 'node:crypto'
import { CHAIN_START, CHECKPOINT, lineHash, splitSignedLine } from './chain.ts'

export type ProblemKind = 'gap' | 'edit' | 'reorder' | 'malformed' | 'unchained' | 'signature'

export interface Problem {
  kind: ProblemKind
  /** 1-based line number where the problem shows. */
  line: number
  message: string
}

export interface VerifyResult {
  ok: boolean
  problem: Problem | null
  warnings: string[]
  lines: number
  segments: number
  checkpoints: number
  /** Records after the last verified checkpoint (not covered by any signature). */
  uncovered: number
}

/** A single record line may not exceed this (toolgate's own records are far smaller). */
export const MAX_LINE_BYTES = 16 * 1024 * 1024

/** Lines of a file as exact bytes; the last element has `terminated: false` if the file ends mid-line. */
async function* fileLines(path: string): AsyncGenerator<{ bytes: Buffer; terminated: boolean; tooLong: boolean }> {
  let pending: Buffer[] = []
  let pendingLen = 0
  let tooLong = false
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    let start = 0
    for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const part = chunk.subarray(start, nl)
      const bytes = pending.length === 0 ? part : Buffer.concat([...pending, part])
      yield { bytes: tooLong ? Buffer.alloc(0) : bytes, terminated: true, tooLong: tooLong || bytes.length > MAX_LINE_BYTES }
      pending = []
      pendingLen = 0
      tooLong = false
      start = nl + 1
    }
    if (start < chunk.length) {
      pendingLen += chunk.length - start
      // Bounded: a line longer than the limit is not kept, only reported.
      if (pendingLen > MAX_LINE_BYTES) { tooLong = true; pending = [] } else pending.push(Buffer.from(chunk.subarray(start)))
    }
  }
  if (pendingLen > 0) yield { bytes: Buffer.concat(pending), terminated: false, tooLong }
}

type Parsed = { ok: true; rec: Record<string, unknown>; seq: number; prev: string | null; type: unknown } | { ok: false; problem: Omit<Problem, 'line'> }

function parseLine(bytes: Buffer): Parsed {
  let rec: unknown
  try {
    rec = JSON.parse(bytes.toString('utf8'))
  } catch {
    return { ok: false, problem: { kind: 'malformed', message: 'not valid JSON (edited or cut short)' } }
  }
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) return { ok: false, problem: { kind: 'malformed', message: 'not a JSON object' } }
  const r = rec as Record<string, unknown>
  const { seq, prev } = r
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return { ok: false, problem: { kind: 'unchained', message: 'has no valid seq: not a chained record' } }
  if (prev !== null && (typeof prev !== 'string' || !/^[0-9a-f]{64}$/.test(prev))) return { ok: false, problem: { kind: 'unchained', message: 'has no valid prev hash: not a chained record' } }
  return { ok: true, rec: r, seq, prev, type: r['type'] }
}

/** Public keys by kid from a JWKS document (EC P-256 signing keys; others are ignored). */
export function keysFromJwks(jwks: unknown): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>()
  const list = (jwks as { keys?: unknown } | null)?.keys
  if (!Array.isArray(list)) throw new Error('not a JWKS document (no "keys" array)')
  for (const k of list as Array<Record<string, unknown>>) {
    if (k?.['kty'] !== 'EC' || k['crv'] !== 'P-256' || typeof k['kid'] !== 'string') continue
    try {
      keys.set(k['kid'], createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: k['x'] as string, y: k['y'] as string }, format: 'jwk' }))
    } catch { /* a malformed key is simply not trusted */ }
  }
  return keys
}

function verifySignature(line: Buffer, key: KeyObject): boolean {
  const parts = splitSignedLine(line.toString('utf8'))
  if (parts === null) return false
  try {
    return ecVerify('sha256', Buffer.from(parts.body), { key, dsaEncoding: 'ieee-p1363' }, parts.sig)
  } catch {
    return false
  }
}

/** Does `seq` occur in the same segment after line `fromLine`? (Tells a moved line from a deleted one.) */
async function seqAppearsLater(path: string, fromLine: number, seq: number): Promise<boolean> {
  let n = 0
  for await (const l of fileLines(path)) {
    n++
    if (n <= fromLine || !l.terminated || l.tooLong) continue
    const p = parseLine(l.bytes)
    if (!p.ok) continue
    if (p.type === CHAIN_START) return false
    if (p.seq === seq) return true
  }
  return false
}

export interface VerifyOptions {
  /** Pinned keys (from the published JWKS or a PEM): every signature must verify with one of them. Null: each segment's own declared key. */
  trusted: Map<string, KeyObject> | null
}

export async function verifyRecordsFile(path: string, opts: VerifyOptions): Promise<VerifyResult> {
  const warnings: string[] = []
  let lineNo = 0
  let segments = 0
  let checkpoints = 0
  let uncovered = 0
  let expected: number | null = null
  let prevHash: string | null = null
  let segmentKey: KeyObject | null = null
  let segmentClosed = true
  const result = (problem: Problem | null): VerifyResult => ({ ok: problem === null, problem, warnings, lines: lineNo, segments, checkpoints, uncovered })

  for await (const l of fileLines(path)) {
    lineNo++
    const at = (kind: ProblemKind, message: string) => result({ kind, line: lineNo, message: `line ${lineNo}: ${message}` })
    if (l.tooLong) return at('malformed', `longer than ${MAX_LINE_BYTES} bytes`)
    if (!l.terminated) return at('malformed', 'the file ends in the middle of this line (cut short)')
    const p = parseLine(l.bytes)
    if (!p.ok) return at(p.problem.kind, p.problem.message)
    const hash = lineHash(l.bytes)

    if (p.type === CHAIN_START) {
      if (p.seq !== 0) return at('edit', `segment start with seq ${p.seq} (must be 0)`)
      const kid = p.rec['kid']
      const jwk = p.rec['jwk'] as Record<string, unknown> | undefined
      let key: KeyObject | null = null
      if (opts.trusted) {
        key = typeof kid === 'string' ? opts.trusted.get(kid) ?? null : null
        if (key === null) return at('signature', `segment signed with key ${String(kid)}, which is not among the trusted keys`)
      } else {
        try {
          key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: jwk?.['x'] as string, y: jwk?.['y'] as string }, format: 'jwk' })
        } catch {
          return at('signature', 'segment start names no usable public key')
        }
      }
      if (!verifySignature(l.bytes, key)) return at('signature', 'segment start signature does not verify (line or key changed)')
      if (lineNo > 1) {
        if (p.prev === null) {
          warnings.push(`line ${lineNo}: a new segment starts without linking to line ${lineNo - 1} (toolgate restarted writing to a stream it cannot read back, e.g. stdout)`)
        } else if (p.prev !== prevHash) {
          return at('edit', `segment start links to a line that is not line ${lineNo - 1} (line ${lineNo - 1} changed, or lines removed before line ${lineNo})`)
        }
        if (!segmentClosed) warnings.push(`line ${lineNo - 1}: the segment ending here has no closing checkpoint (toolgate stopped abruptly, or lines were removed from its end)`)
      } else if (p.prev !== null) {
        warnings.push('line 1: the stream continues an earlier file (its first segment links to a line not in this file)')
      }
      if (!opts.trusted) warnings.push(`line ${lineNo}: signatures checked with the key the segment declares (${String(kid)}); pass --jwks or --key to pin toolgate's published key`)
      segments++
      segmentKey = key
      segmentClosed = false
      expected = 1
      prevHash = hash
      uncovered = 0
      continue
    }

    if (expected === null) {
      // The file begins inside a segment (a rotated file): take its numbering as found.
      warnings.push(`line 1: the file starts inside a segment (seq ${p.seq}); its start is not in this file`)
      expected = p.seq
      segments++
      segmentClosed = false
      prevHash = p.prev
    }
    if (segmentClosed) return at('edit', `record after the closing checkpoint of its segment`)
    if (p.seq > expected) {
      const moved = await seqAppearsLater(path, lineNo, expected)
      return moved
        ? at('reorder', `seq ${p.seq} where seq ${expected} was due; seq ${expected} comes later in the file (lines reordered)`)
        : at('gap', `seq ${p.seq} where seq ${expected} was due: ${p.seq - expected} record(s) missing before this line`)
    }
    if (p.seq < expected) return at('reorder', `seq ${p.seq} after seq ${expected - 1} (line moved or repeated)`)
    if (p.prev !== prevHash) {
      // Reported at the line that no longer hashes to what its successor recorded.
      return result({ kind: 'edit', line: lineNo - 1, message: `line ${lineNo - 1}: changed (its hash is not the prev recorded by line ${lineNo})` })
    }

    if (p.type === CHECKPOINT) {
      const kid = p.rec['kid']
      const key = opts.trusted ? (typeof kid === 'string' ? opts.trusted.get(kid) ?? null : null) : segmentKey
      if (key === null) return at('signature', `checkpoint signed with key ${String(kid)}, which is not among the trusted keys`)
      if (!verifySignature(l.bytes, key)) return at('signature', 'checkpoint signature does not verify (line changed, or signed by another key)')
      checkpoints++
      uncovered = 0
      if (p.rec['final'] === true) segmentClosed = true
    } else {
      uncovered++
    }
    expected++
    prevHash = hash
  }
  if (lineNo === 0) return result({ kind: 'malformed', line: 0, message: 'the file is empty' })
  if (uncovered > 0) warnings.push(`${uncovered} record(s) after the last checkpoint are not covered by a signature (they could be removed or changed undetected)`)
  if (!segmentClosed) warnings.push('the last segment has no closing checkpoint (toolgate still running, stopped abruptly, or lines removed from the end)')
  return result(null)
}
