// Fixture policies for the policy tests, compiled at test time with the real OPA CLI (never
// committed binaries), plus small helpers to repack (tamper with) a built bundle.

import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, sep } from 'node:path'
import { create as tarCreate } from 'tar'
import { toolPath } from '../helpers/tools.ts'
import type { PolicyInput } from '../../proxy/src/decide/policy-input.ts'

export const opa = (): string => toolPath('opa')

export function tempDir(t: { teardown(fn: () => void): void }, prefix = 'toolgate-policy-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => rmSync(d, { recursive: true, force: true }))
  return d
}

export interface BuildOptions {
  /** Files of the bundle source: path -> content (objects are written as JSON). */
  files: Record<string, string | object>
  entrypoints?: string[]
  /** Written as .manifest (revision/roots/metadata) when given. */
  manifest?: Record<string, unknown>
  revision?: string
  signingKey?: string
  signingAlg?: string
  scope?: string
  claimsFile?: string
}

/** opa build -t wasm over the given sources; returns the .tar.gz bytes. */
export function buildBundle(dir: string, opts: BuildOptions): Buffer {
  const src = mkdtempSync(join(dir, 'src-'))
  for (const [p, content] of Object.entries(opts.files)) {
    mkdirSync(dirname(join(src, p)), { recursive: true })
    writeFileSync(join(src, p), typeof content === 'string' ? content : JSON.stringify(content))
  }
  if (opts.manifest) writeFileSync(join(src, '.manifest'), JSON.stringify(opts.manifest))
  const out = join(dir, `bundle-${Math.random().toString(36).slice(2)}.tar.gz`)
  const args = ['build', '-b', '.', '-t', 'wasm', '-o', out]
  for (const e of opts.entrypoints ?? ['fixture/decision']) args.push('-e', e)
  if (opts.revision !== undefined) args.push('--revision', opts.revision)
  if (opts.signingKey !== undefined) args.push('--signing-key', opts.signingKey, '--signing-alg', opts.signingAlg ?? 'RS256')
  if (opts.scope !== undefined) args.push('--scope', opts.scope)
  if (opts.claimsFile !== undefined) args.push('--claims-file', opts.claimsFile)
  const r = spawnSync(opa(), args, { cwd: src, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`opa build failed: ${r.stderr}`)
  return readFileSync(out)
}

/** Unpacks a bundle into name -> bytes (names without the leading slash). */
export function unpack(dir: string, bundle: Buffer): Map<string, Buffer> {
  const d = mkdtempSync(join(dir, 'unpack-'))
  writeFileSync(join(d, '..bundle.tar.gz'), bundle)
  execFileSync('tar', ['-xzf', join(d, '..bundle.tar.gz'), '-C', d], { stdio: 'ignore' })
  rmSync(join(d, '..bundle.tar.gz'))
  const files = new Map<string, Buffer>()
  const walk = (p: string): void => {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      const f = join(p, e.name)
      if (e.isDirectory()) walk(f)
      else files.set(relative(d, f).split(sep).join('/'), readFileSync(f))
    }
  }
  walk(d)
  return files
}

/** Packs name -> bytes into a .tar.gz (with the leading slash OPA uses). */
export async function repack(dir: string, files: Map<string, Buffer | string>): Promise<Buffer> {
  const d = mkdtempSync(join(dir, 'repack-'))
  for (const [name, bytes] of files) {
    mkdirSync(dirname(join(d, name)), { recursive: true })
    writeFileSync(join(d, name), bytes)
  }
  const out = join(dir, `repacked-${Math.random().toString(36).slice(2)}.tar.gz`)
  await tarCreate({ gzip: true, file: out, cwd: d, portable: true }, [...files.keys()])
  return readFileSync(out)
}

/** opa eval of `query` with data from `dataPaths` and the given input; returns the value of the first expression. */
export function opaEval(query: string, dataPaths: string[], input: unknown, dir: string): unknown {
  const inputFile = join(dir, `input-${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(inputFile, JSON.stringify(input))
  const args = ['eval', '--format', 'json', '--ignore', '*_test.rego', '-i', inputFile]
  for (const p of dataPaths) args.push('-d', p)
  args.push(query)
  const r = spawnSync(opa(), args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 })
  if (r.status !== 0) throw new Error(`opa eval failed: ${r.stderr}`)
  const out = JSON.parse(r.stdout) as { result?: Array<{ expressions: Array<{ value: unknown }> }> }
  return out.result?.[0]?.expressions[0]?.value
}

export function baseInput(overrides: Partial<PolicyInput> = {}): PolicyInput {
  return {
    version: 1,
    agent: { namespace: 'agents', service_account: 'research', pod: 'research-0', spiffe_id: null, labels: {} },
    task: null,
    tool: { name: 'github', access: 'read', data_classification: 'internal', labels: {}, route: null, captures: {} },
    request: { method: 'GET', scheme: 'https', host: 'api.github.com', port: 443, path: '/repos', query: {}, headers: {} },
    mcp: null,
    rate_limits: {},
    time: { now: '2026-01-01T10:00:00.000Z', now_ns: Date.UTC(2026, 0, 1, 10) * 1e6 },
    ...overrides,
  }
}

/** Scrapes one metric value (sum over series matching the label filter) from a registry. */
export async function metricValue(registry: import('prom-client').Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = registry.getSingleMetric(name)
  if (!m) return 0
  const { values } = await m.get()
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((s, v) => s + v.value, 0)
}

/** Polls `check` until it returns true or the timeout passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, stepMs = 20): Promise<boolean> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, stepMs))
  }
  return check()
}
