// A real OpenTelemetry Collector (test/tools/otelcol: OTLP receiver + file exporter, built by
// scripts/prepare-otelcol.js) started on a free loopback port, writing what it receives as OTLP
// JSON lines to files the test reads. Stopped (SIGTERM, then SIGKILL) by close().
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { toolPath } from '../../helpers/tools.ts'

export interface Collector {
  /** OTLP/HTTP base URL, e.g. http://127.0.0.1:4318 */
  url: string
  /** Every JSON line the file exporter wrote for traces / logs so far. */
  traces(): unknown[]
  logs(): unknown[]
  /** Polls until pred holds over what was exported (or throws after timeoutMs). */
  waitFor<T>(read: () => unknown[], pred: (lines: unknown[]) => T | undefined | null | false, timeoutMs?: number): Promise<T>
  stderr(): string
  close(): Promise<void>
}

export async function freePort(): Promise<number> {
  const s = createServer()
  s.listen(0, '127.0.0.1')
  await once(s, 'listening')
  const port = (s.address() as { port: number }).port
  s.close()
  await once(s, 'close')
  return port
}

function readLines(file: string): unknown[] {
  if (!existsSync(file)) return []
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as unknown)
}

export async function startCollector(): Promise<Collector> {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-otelcol-'))
  const port = await freePort()
  const tracesFile = join(dir, 'traces.jsonl')
  const logsFile = join(dir, 'logs.jsonl')
  writeFileSync(join(dir, 'config.yaml'), `receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${port}
exporters:
  file/traces:
    path: ${tracesFile}
    flush_interval: 100ms
  file/logs:
    path: ${logsFile}
    flush_interval: 100ms
service:
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [file/traces]
    logs:
      receivers: [otlp]
      exporters: [file/logs]
`)
  const child = spawn(toolPath('otelcol'), ['--config', `file:${join(dir, 'config.yaml')}`], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-20_000) })
  const exited = once(child, 'exit')
  // Ready when the receiver accepts connections.
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`otelcol exited ${child.exitCode}: ${stderr}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) break
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`otelcol did not listen on ${port}: ${stderr}`) }
    await new Promise((r) => setTimeout(r, 100))
  }
  return {
    url: `http://127.0.0.1:${port}`,
    traces: () => readLines(tracesFile),
    logs: () => readLines(logsFile),
    async waitFor(read, pred, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs
      for (;;) {
        const v = pred(read())
        if (v) return v
        if (Date.now() > end) throw new Error(`timed out waiting for the collector's output; stderr: ${stderr}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    },
    stderr: () => stderr,
    async close() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
}

/** OTLP JSON: every span of every resource/scope, with its attributes flattened. */
export interface FlatSpan { traceId: string; spanId: string; parentSpanId: string; name: string; kind: number; attributes: Record<string, unknown>; resource: Record<string, unknown> }

type Kv = { key: string; value: Record<string, unknown> }
export function anyValue(v: Record<string, unknown> | undefined): unknown {
  if (!v) return undefined
  if ('stringValue' in v) return v['stringValue']
  if ('intValue' in v) return Number(v['intValue'])
  if ('doubleValue' in v) return v['doubleValue']
  if ('boolValue' in v) return v['boolValue']
  if ('arrayValue' in v) return ((v['arrayValue'] as { values?: Record<string, unknown>[] }).values ?? []).map(anyValue)
  if ('kvlistValue' in v) return kvs((v['kvlistValue'] as { values?: Kv[] }).values)
  return undefined
}
export function kvs(list: Kv[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, anyValue(kv.value)]))
}

export function flatSpans(lines: unknown[]): FlatSpan[] {
  const out: FlatSpan[] = []
  for (const line of lines as Array<{ resourceSpans?: Array<{ resource?: { attributes?: Kv[] }; scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }> }> }>) {
    for (const rs of line.resourceSpans ?? []) {
      const resource = kvs(rs.resource?.attributes)
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          out.push({ traceId: s['traceId'] as string, spanId: s['spanId'] as string, parentSpanId: (s['parentSpanId'] as string) ?? '', name: s['name'] as string, kind: s['kind'] as number, attributes: kvs(s['attributes'] as Kv[]), resource })
        }
      }
    }
  }
  return out
}

export interface FlatLog { traceId: string; spanId: string; body: unknown; attributes: Record<string, unknown>; eventName: string }
export function flatLogs(lines: unknown[]): FlatLog[] {
  const out: FlatLog[] = []
  for (const line of lines as Array<{ resourceLogs?: Array<{ scopeLogs?: Array<{ logRecords?: Array<Record<string, unknown>> }> }> }>) {
    for (const rl of line.resourceLogs ?? []) {
      for (const sl of rl.scopeLogs ?? []) {
        for (const l of sl.logRecords ?? []) {
          out.push({ traceId: (l['traceId'] as string) ?? '', spanId: (l['spanId'] as string) ?? '', body: anyValue(l['body'] as Record<string, unknown>), attributes: kvs(l['attributes'] as Kv[]), eventName: (l['eventName'] as string) ?? '' })
        }
      }
    }
  }
  return out
}
