// The pieces every test that runs a server as a child process needs (the Go and Python MCP
// servers, the SDK clients): its output as lines, and a stop that waits for the exit.
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import type { Readable } from 'node:stream'

/** Calls onLine for each complete line the stream writes. */
export function onLines(stream: Readable, onLine: (line: string) => void): void {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine)
}

/** Stops the child (SIGTERM) and resolves once it has exited; at once if it already has. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill()
  await once(child, 'exit')
}
