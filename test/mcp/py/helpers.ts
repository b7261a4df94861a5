// Starts the Python SDK test server (test/mcp/py/server.py) and runs the Python SDK test client
// (test/mcp/py/client.py); both need `mcp` from PyPI (.ci/run installs it).
import { execFile, spawn } from 'node:child_process'
import { createServer, connect } from 'node:net'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { onLines, stopChild } from '../../helpers/child.ts'
import { listenOnLoopback } from '../../helpers/upstream.ts'

const here = fileURLToPath(new URL('.', import.meta.url))

async function freePort(): Promise<number> {
  const l = await listenOnLoopback(createServer())
  await l.close()
  return l.port
}

async function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1')
    c.once('connect', () => { c.destroy(); resolve(true) })
    c.once('error', () => resolve(false))
  })
}

export interface PyMcpServer {
  port: number
  ran: string[]
  close(): Promise<void>
}

export async function startPyMcpServer(): Promise<PyMcpServer> {
  const port = await freePort()
  const child = spawn('python3', [`${here}server.py`, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] })
  const ran: string[] = []
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr = (stderr + c).slice(-4000) })
  onLines(child.stdout, (line) => { if (line.startsWith('ran ')) ran.push(line.slice(4)) })
  for (let i = 0; i < 200 && !(await reachable(port)); i++) {
    if (child.exitCode !== null) throw new Error(`python MCP server exited: ${stderr}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  if (!(await reachable(port))) throw new Error(`python MCP server did not start: ${stderr}`)
  return {
    port,
    ran,
    close: () => stopChild(child),
  }
}

/** Runs the Python client against url; one parsed JSON object per line it printed. */
export async function runPyClient(url: string, tools: string[]): Promise<Record<string, unknown>[]> {
  const r = await promisify(execFile)('python3', [`${here}client.py`, url, ...tools], { encoding: 'utf8', timeout: 60_000 })
  return r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
}
