// Appends the records' lines to a file: every line produced in one turn of the event loop goes
// out in one synchronous write(2) at the end of that turn (setImmediate), instead of one
// asynchronous fs.write per line through libuv's thread pool. At agent rates (a few hundred calls
// a second) nothing coalesced before, and each record cost a thread-pool round trip: a futex wake
// of a worker, its write, an eventfd wake-up of the loop and the stream's callbacks — ~7 system
// calls and two context switches per call, the largest toolgate-specific cost at 200 req/s
// (issue 19, docs/benchmarks.md). A write(2) of a few KiB to a local file goes to the page cache
// and does not wait for the disk.
//
// Failure is unchanged: a write error is thrown from the turn's flush (the setImmediate callback),
// an uncaught exception that stops the process, as the old WriteStream's unhandled 'error' did: a
// toolgate that can no longer record must not go on serving unrecorded calls. What one turn
// buffers is bounded by what one turn can produce (the lines of the calls finished in it).

import { closeSync, openSync, writeSync } from 'node:fs'

export class LineAppender {
  readonly #fd: number
  #pending: string[] = []
  #scheduled = false
  #closed = false

  /** Opens (creating with mode 0600: records name tools and paths) `path` for appending; throws if it cannot. */
  constructor(path: string) {
    this.#fd = openSync(path, 'a', 0o600)
  }

  /** Queues one line (with its newline) for the end of this event-loop turn. */
  write(text: string): void {
    if (this.#closed) return
    this.#pending.push(text)
    if (!this.#scheduled) {
      this.#scheduled = true
      setImmediate(() => this.flush())
    }
  }

  /** Writes every queued line now, in order. */
  flush(): void {
    this.#scheduled = false
    if (this.#pending.length === 0) return
    const buf = Buffer.from(this.#pending.length === 1 ? this.#pending[0]! : this.#pending.join(''), 'utf8')
    this.#pending = []
    // write(2) on a regular file writes everything or fails; the loop covers a short write anyway.
    for (let off = 0; off < buf.length;) off += writeSync(this.#fd, buf, off, buf.length - off)
  }

  /** Flushes what is queued and closes the file. */
  close(): void {
    if (this.#closed) return
    this.flush()
    this.#closed = true
    closeSync(this.#fd)
  }
}
