// Starts the test MCP server built with the official Go SDK (test/mcp/go-server, built and cached
// by scripts/prepare-go-mcp.js) and collects what it ran from its stdout ("ran <tool> <args>").
import { spawn } from 'node:child_process'
import { toolPath } from '../../helpers/tools.ts'
import { onLines, stopChild } from '../../helpers/child.ts'

export interface GoMcpServer {
  port: number
  /** Tools the server executed, in order, as "name {args}". */
  ran: string[]
  close(): Promise<void>
}

export async function startGoMcpServer(variant: 'current' | 'vulnerable'): Promise<GoMcpServer> {
  const child = spawn(toolPath(`go-mcp-server-${variant}`), [], { stdio: ['ignore', 'pipe', 'inherit'] })
  const ran: string[] = []
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`go-mcp-server-${variant} exited ${code}`)))
    onLines(child.stdout, (line) => {
      const m = /^listening (\d+)$/.exec(line)
      if (m) resolve(Number(m[1]))
      else if (line.startsWith('ran ')) ran.push(line.slice(4))
    })
  })
  return { port, ran, close: () => stopChild(child) }
}
