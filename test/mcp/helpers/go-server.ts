// Starts the test MCP server built with the official Go SDK (test/mcp/go-server, built and cached
// by scripts/prepare-go-mcp.js) and collects what it ran from its stdout ("ran <tool> <args>").
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { toolPath } from '../../helpers/tools.ts'

export interface GoMcpServer {
  port: number
  /** Tools the server executed, in order, as "name {args}". */
  ran: string[]
  close(): Promise<void>
}

export async function startGoMcpServer(variant: 'current' | 'vulnerable'): Promise<GoMcpServer> {
  const child = spawn(toolPath(`go-mcp-server-${variant}`), [], { stdio: ['ignore', 'pipe', 'inherit'] })
  const ran: string[] = []
  let port = 0
  let buffered = ''
  const ready = new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`go-mcp-server-${variant} exited ${code}`)))
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk
      let nl: number
      while ((nl = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        const m = /^listening (\d+)$/.exec(line)
        if (m) {
          port = Number(m[1])
          resolve()
        } else if (line.startsWith('ran ')) ran.push(line.slice(4))
      }
    })
  })
  await ready
  return {
    port,
    ran,
    async close() {
      if (child.exitCode !== null) return
      child.kill()
      await once(child, 'exit')
    },
  }
}
