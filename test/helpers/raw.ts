// Sends raw bytes to a listener and returns what came back, so tests can send requests no
// well-behaved client would (duplicate Host, CL+TE, odd targets) and see exactly the answer.
import { connect } from 'node:net'

export interface RawResponse {
  raw: string
  status: number
  body: string
}

export function rawRequest(port: number, bytes: string, timeoutMs = 5000, untilClose = false): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { socket.destroy(); finish() }, timeoutMs)
    const finish = (): void => {
      clearTimeout(timer)
      const raw = Buffer.concat(chunks).toString('latin1')
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(raw)?.[1] ?? 0)
      const sep = raw.indexOf('\r\n\r\n')
      resolve({ raw, status, body: sep === -1 ? '' : raw.slice(sep + 4) })
    }
    socket.on('data', (c: Buffer) => {
      chunks.push(c)
      // One response is enough: stop once a complete Content-Length body has arrived.
      const text = Buffer.concat(chunks).toString('latin1')
      const sep = text.indexOf('\r\n\r\n')
      const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, sep))
      if (!untilClose && sep !== -1 && len && text.length - sep - 4 >= Number(len[1])) { socket.destroy(); finish() }
    })
    socket.on('end', finish)
    socket.on('error', (err) => { clearTimeout(timer); if (chunks.length) finish(); else reject(err) })
    socket.write(bytes)
  })
}
