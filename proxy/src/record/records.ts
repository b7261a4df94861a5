// Decision records: one JSON line per decision (and per credential issuance/revocation, approval)
// on stdout or appended to a file. This is the audit trail a reviewer reads to reconstruct an
// agent's chain of actions, so records are never dropped: a file gets every line of an event-loop
// turn in one synchronous append at the end of the turn (line-appender.ts), stdout its own writes.
// Lines are hash-chained with signed checkpoints (record/chain.ts) so that an edited, deleted or
// reordered line is detected by `toolgate verify-records`.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { open as openFile } from 'node:fs/promises'
import { RecordChain } from './chain.ts'
import { LineAppender } from './line-appender.ts'
import { generateSigner, type RecordSigner } from './signer.ts'
import type { RecordWriter, ToolgateRecord } from './record-types.ts'

/** A record as read back (tests, `toolgate decide`, the verifier): any JSON object. */
export type RecordFields = Record<string, unknown>

/** Accepts only the record kinds of record/record-types.ts (one type per kind). */
export interface RecordSink extends RecordWriter {
  write(record: ToolgateRecord): void
  close(): Promise<void>
  /** Public key that signs this stream's checkpoints (chained sinks only): published in the JWKS. */
  readonly publicJwk?: RecordSigner['publicJwk']
}

export interface ChainedSinkOptions {
  /** Signs chain starts and checkpoints; default: a key generated now. */
  signer?: RecordSigner
  /** A signed checkpoint at least this often while records are written; 0 = only every_records and at close. */
  checkpointIntervalS?: number
  /** A signed checkpoint after this many records; 0 = no count trigger. */
  checkpointEveryRecords?: number
}

/** Longest tail read to find the last line of an existing records file. */
const MAX_TAIL_BYTES = 1024 * 1024

/**
 * The last complete line of a file (without its newline) and whether the file ends mid-line, or
 * null for an empty or missing file. Only the tail is read (bounded).
 */
export function lastLineOf(path: string): { line: Buffer; partial: boolean } | null {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch {
    return null
  }
  try {
    const size = fstatSync(fd).size
    if (size === 0) return null
    const len = Math.min(size, MAX_TAIL_BYTES)
    const buf = Buffer.alloc(len)
    readSync(fd, buf, 0, len, size - len)
    const partial = buf[len - 1] !== 0x0a
    const end = partial ? len : len - 1
    const start = buf.lastIndexOf(0x0a, end - 1) + 1
    // A line longer than the tail window cannot be hashed whole: link to nothing (the verifier
    // then reports the segment as unlinked rather than toolgate claiming a link it cannot prove).
    if (start === 0 && size > len) return { line: Buffer.alloc(0), partial: true }
    return { line: buf.subarray(start, end), partial }
  } finally {
    closeSync(fd)
  }
}

/** 'stdout' or a file path (appended, created with mode 0600: records name tools and paths). */
export function openRecordSink(target: string, opts: ChainedSinkOptions = {}): RecordSink {
  const signer = opts.signer ?? generateSigner()
  let out: (line: string) => void
  let end: () => Promise<void>
  let previousLine: Buffer | null = null
  if (target === 'stdout') {
    out = (line) => { process.stdout.write(line + '\n') }
    end = async () => {}
  } else {
    const last = lastLineOf(target)
    const file = new LineAppender(target)
    // A line cut short by a crash stays a line of its own (the verifier reports it); the new
    // segment links to it so nothing between the two is silently lost.
    if (last?.partial) file.write('\n')
    previousLine = last && last.line.length > 0 ? last.line : null
    out = (line) => { file.write(line + '\n') }
    end = async () => { file.close() }
  }
  const chain = new RecordChain({ signer, previousLine })
  out(chain.start())
  const every = opts.checkpointEveryRecords ?? 0
  const intervalS = opts.checkpointIntervalS ?? 0
  const timer = intervalS > 0 ? setInterval(() => { if (chain.pending() > 0) out(chain.checkpoint()) }, intervalS * 1000) : null
  timer?.unref()
  let closed = false
  return {
    publicJwk: signer.publicJwk,
    write: (r) => {
      if (closed) return
      out(chain.line(r))
      if (every > 0 && chain.pending() >= every) out(chain.checkpoint())
    },
    close: async () => {
      if (closed) return
      closed = true
      if (timer) clearInterval(timer)
      // The closing checkpoint marks a clean end of the segment.
      out(chain.checkpoint(true))
      await end()
    },
  }
}

/** A sink that keeps records in memory (tests, `toolgate decide`). */
export function memorySink(): RecordSink & { records: RecordFields[] } {
  const records: RecordFields[] = []
  return { records, write: (r) => { records.push(r) }, close: async () => {} }
}

/**
 * Query string with every value replaced: names show what kind of call it was, values may hold
 * personal data or tokens. `a=1&b=&c` → `a=_&b=_&c`.
 */
export function redactQuery(query: string): string {
  if (query === '') return ''
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=')
      return eq === -1 ? pair : `${pair.slice(0, eq)}=_`
    })
    .join('&')
}

/**
 * The sink toolgate opens from logging.records, reopened when a reload names another target:
 * records written after the swap go to the new target, the old one is flushed and closed.
 */
export class ReloadableSink implements RecordSink {
  #target: string
  #sink: RecordSink
  readonly #open: (target: string) => RecordSink

  constructor(target: string, open: (target: string) => RecordSink = openRecordSink) {
    this.#target = target
    this.#open = open
    this.#sink = open(target)
  }

  write(record: ToolgateRecord): void {
    this.#sink.write(record)
  }

  get publicJwk(): RecordSink['publicJwk'] {
    return this.#sink.publicJwk
  }

  /** Switches to `target` when it differs from the current one; rejects, changing nothing, if it cannot be opened. */
  async retarget(target: string): Promise<void> {
    if (target === this.#target) return
    if (target !== 'stdout') await (await openFile(target, 'a', 0o600)).close()
    const previous = this.#sink
    this.#sink = this.#open(target)
    this.#target = target
    await previous.close()
  }

  close(): Promise<void> {
    return this.#sink.close()
  }
}
