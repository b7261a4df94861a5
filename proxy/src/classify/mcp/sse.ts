// Incremental splitter for text/event-stream (WHATWG HTML, "server-sent events"): lines end in
// CRLF, LF or CR; a blank line ends an event; "data" lines carry the payload (one leading space
// after the colon removed, lines joined with LF). The splitter keeps the exact bytes of every
// line so an event nobody rewrites goes out byte for byte. It holds at most one unfinished event
// (bounded by maxEventBytes), never the stream.

export interface SseEvent {
  /** Exact bytes of the event, including its terminating blank line (absent for a trailing event at end of stream). */
  raw: Buffer
  /** Values of its data lines, or [] when it has none. */
  data: string[]
  /** True when the stream ended before the blank line that would complete the event. */
  incomplete: boolean
}

export class SseSizeError extends Error {}

const LF = 0x0a
const CR = 0x0d
// ignoreBOM: a BOM is only skipped at the very start of the stream (handled below), like clients do.
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true })

export class SseSplitter {
  private readonly maxEventBytes: number
  /** Bytes of the line being read (may end in a CR whose LF has not arrived yet). */
  private partial: Buffer[] = []
  private partialBytes = 0
  private lines: Buffer[] = []
  private eventBytes = 0
  private data: string[] = []
  /** The stream's first line may start with a BOM, which clients ignore (so must we). */
  private firstLine = true

  constructor(maxEventBytes: number) {
    this.maxEventBytes = maxEventBytes
  }

  /** Feeds bytes; returns the events they complete, in order. Throws SseSizeError past the bound. */
  push(chunk: Buffer): SseEvent[] {
    const out: SseEvent[] = []
    let i = 0
    if (this.partialEndsInCr()) {
      // The previous chunk ended in CR: only now do we know whether the terminator is CR or CRLF.
      if (chunk.length === 0) return out
      if (chunk[0] === LF) {
        this.append(chunk.subarray(0, 1))
        i = 1
      }
      this.endLine(out)
    }
    while (i < chunk.length) {
      const cr = chunk.indexOf(CR, i)
      const lf = chunk.indexOf(LF, i)
      const j = cr === -1 ? lf : lf === -1 ? cr : Math.min(cr, lf)
      if (j === -1) {
        this.append(chunk.subarray(i))
        break
      }
      if (chunk[j] === CR && j + 1 === chunk.length) {
        this.append(chunk.subarray(i)) // wait for the next byte
        break
      }
      const end = chunk[j] === CR && chunk[j + 1] === LF ? j + 2 : j + 1
      this.append(chunk.subarray(i, end))
      this.endLine(out)
      i = end
    }
    return out
  }

  /**
   * End of stream: the events still held. A final line held back because it ended in CR (was it
   * CR or CRLF?) is ended now, and may complete an event; whatever is left after that is one
   * incomplete event.
   */
  end(): SseEvent[] {
    const out: SseEvent[] = []
    if (this.partialBytes > 0) this.endLine(out)
    if (this.lines.length > 0) {
      out.push({ raw: Buffer.concat(this.lines), data: this.data, incomplete: true })
      this.reset()
    }
    return out
  }

  /** Bytes held back (the unfinished event and line), for a caller that stops splitting. */
  drain(): Buffer {
    const b = Buffer.concat([...this.lines, ...this.partial])
    this.reset()
    this.partial = []
    this.partialBytes = 0
    return b
  }

  private partialEndsInCr(): boolean {
    const last = this.partial[this.partial.length - 1]
    return last !== undefined && last.length > 0 && last[last.length - 1] === CR
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return
    this.partialBytes += bytes.length
    if (this.eventBytes + this.partialBytes > this.maxEventBytes) throw new SseSizeError(`an SSE event exceeds ${this.maxEventBytes} bytes`)
    this.partial.push(bytes)
  }

  private endLine(out: SseEvent[]): void {
    const line = this.partial.length === 1 ? this.partial[0]! : Buffer.concat(this.partial)
    this.partial = []
    this.partialBytes = 0
    let contentEnd = line.length
    while (contentEnd > 0 && (line[contentEnd - 1] === LF || line[contentEnd - 1] === CR)) contentEnd--
    this.lines.push(line)
    this.eventBytes += line.length
    if (contentEnd === 0) {
      this.firstLine = false
      out.push({ raw: Buffer.concat(this.lines), data: this.data, incomplete: false })
      this.reset()
      return
    }
    // Lines split on CR/LF only, which never occur inside a multi-byte UTF-8 sequence.
    let text = utf8.decode(line.subarray(0, contentEnd))
    if (this.firstLine && text.startsWith('\ufeff')) text = text.slice(1)
    this.firstLine = false
    const colon = text.indexOf(':')
    const field = colon === -1 ? text : text.slice(0, colon)
    if (field === 'data') {
      let value = colon === -1 ? '' : text.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      this.data.push(value)
    }
  }

  private reset(): void {
    this.lines = []
    this.eventBytes = 0
    this.data = []
  }
}
