// Decision records: one JSON line per decision (and per credential issuance/revocation, approval)
// on stdout or appended to a file. This is the audit trail a reviewer reads to reconstruct an
// agent's chain of actions, so records are never dropped: a slow sink applies back-pressure
// through the stream's buffer, and the buffered size is exposed as a metric by the owner.

import { createWriteStream, type WriteStream } from 'node:fs'
import { open as openFile } from 'node:fs/promises'

export type RecordFields = Record<string, unknown>

export interface RecordSink {
  write(record: RecordFields): void
  close(): Promise<void>
}

/** 'stdout' or a file path (appended, created with mode 0600: records name tools and paths). */
export function openRecordSink(target: string): RecordSink {
  if (target === 'stdout') {
    return {
      write: (r) => { process.stdout.write(JSON.stringify(r) + '\n') },
      close: async () => {},
    }
  }
  const stream: WriteStream = createWriteStream(target, { flags: 'a', mode: 0o600 })
  return {
    write: (r) => { stream.write(JSON.stringify(r) + '\n') },
    close: () => new Promise((resolve) => stream.end(resolve)),
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

  write(record: RecordFields): void {
    this.#sink.write(record)
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
