// A loopback port whose connects never complete: what an upstream that drops SYNs looks like
// (a firewall, a dead host), which a plain loopback listener cannot show (it accepts, or the
// kernel refuses at once). A real socket listens with backlog 0 and never accepts (Python: Node
// accepts every connection itself); one connection fills its accept queue, and Linux then drops
// further SYNs, so every later connect hangs until the client gives up.
import { spawn } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { createInterface } from 'node:readline'

export interface UnansweredPort {
  port: number
  close(): Promise<void>
}

const LISTENER = `
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
print(s.getsockname()[1], flush=True)
sys.stdin.read()  # until the test closes stdin
`

export async function startUnansweredPort(): Promise<UnansweredPort> {
  const child = spawn('python3', ['-c', LISTENER], { stdio: ['pipe', 'pipe', 'inherit'] })
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]
  const port = Number(line)
  // Fill the accept queue: this connect completes (the kernel finishes the handshake for the
  // queue), the next ones do not.
  const filler: Socket = connect(port, '127.0.0.1')
  filler.on('error', () => {})
  await once(filler, 'connect')
  return {
    port,
    close: async () => {
      filler.destroy()
      child.stdin!.end()
      if (child.exitCode === null) await once(child, 'exit')
    },
  }
}
