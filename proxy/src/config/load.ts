// Loading a config: YAML (with positions) -> JSON Schema -> semantic rules -> defaults. Every
// problem of every stage that can run is reported at once, each at its file:line:col; a config
// with any problem is never returned.

import { readFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { compareConfigErrors, formatConfigErrors, formatPath, type ConfigError } from './errors.ts'
import { resolveConfig, sourceOf, type ResolvedConfig } from './resolved.ts'
import { schemaErrors } from './schema-check.ts'
import { semanticFindings } from './semantic.ts'
import type { Tool, ToolgateConfig } from './schema.gen.ts'
import { MAX_CONFIG_BYTES, parseYaml, type PathSegment } from './yaml-source.ts'
import { allowlistErrors } from '../classify/allowlist.ts'
import { assetPath } from '../assets.ts'

export { checkReferencedFiles } from './referenced-files.ts'

export type LoadResult = { ok: true; config: ResolvedConfig } | { ok: false; errors: ConfigError[] }

/** The config shipped in config/: what `toolgate run` uses without --config. */
export const EMBEDDED_CONFIG_PATH = assetPath('config/toolgate.default.yaml')

/**
 * Parses and validates config text. `file` names it in errors and anchors relative paths; `env`
 * supplies the agent identity fields the config leaves out (POD_NAMESPACE, POD_NAME,
 * SERVICE_ACCOUNT, SPIFFE_ID).
 */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): LoadResult {
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text
  const yaml = parseYaml(body, file)
  if (!yaml.ok) return { ok: false, errors: yaml.errors.sort(compareConfigErrors) }
  const parsed = yaml.parsed

  const errors = schemaErrors(parsed, file)
  // A semantic finding on a field the schema already rejected would say the same thing twice.
  const rejected = new Set(errors.map((e) => e.path))
  for (const f of semanticFindings(parsed.value)) {
    const path = formatPath(f.path)
    if (rejected.has(path)) continue
    const pos = parsed.locate(f.path, f.at)
    errors.push({ file, line: pos.line, column: pos.column, path, message: f.message })
  }
  // The allowlist compiler is the last word on hosts, patterns and base URLs: a config that
  // loads must compile, or a reload could be accepted here and then fail to apply.
  // It needs schema-valid tools, so it runs only when the schema found nothing.
  if (rejected.size === 0) {
    for (const e of compileErrors((parsed.value as ToolgateConfig).tools)) {
      const path = formatPath(e.path)
      if (errors.some((x) => x.path === path)) continue
      const pos = parsed.locate(e.path)
      errors.push({ file, line: pos.line, column: pos.column, path, message: e.message })
    }
  }
  if (errors.length > 0) return { ok: false, errors: errors.sort(compareConfigErrors) }
  return { ok: true, config: resolveConfig(parsed.value as ToolgateConfig, sourceOf(text, file), env) }
}

/** allowlistErrors, with an unexpected failure of the compiler reported instead of thrown. */
function compileErrors(tools: readonly Tool[]): Array<{ path: PathSegment[]; message: string }> {
  try {
    return allowlistErrors(tools).map((e) => ({ path: [...e.path], message: e.message }))
  } catch (err) {
    return [{ path: ['tools'], message: `the allowlist cannot be compiled: ${(err as Error).message}` }]
  }
}

/** Reads and parses a config file; an unreadable file is a ConfigError like any other. */
export async function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadResult> {
  const read = await readBounded(file)
  if (typeof read !== 'string') return { ok: false, errors: [read] }
  return parseConfigText(read, file, env)
}

/** The embedded default config. Throws only if the shipped file is broken (a test proves it is not). */
export function loadEmbeddedConfig(env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const text = readFileSync(EMBEDDED_CONFIG_PATH, 'utf8')
  const result = parseConfigText(text, EMBEDDED_CONFIG_PATH, env)
  if (!result.ok) throw new Error(`the embedded config is invalid:\n${formatConfigErrors(result.errors)}`)
  return result.config
}

/** The file's text, or a ConfigError saying why it cannot be used (missing, too big, not UTF-8). */
export async function readBounded(file: string): Promise<string | ConfigError> {
  const fail = (message: string): ConfigError => ({ file, line: 0, column: 0, path: '', message })
  let handle
  try {
    handle = await open(file, 'r')
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ENOENT') return fail('config file does not exist')
    if (e.code === 'EACCES') return fail('config file is not readable (permission denied)')
    return fail(`config file cannot be opened (${e.code ?? e.message})`)
  }
  try {
    const s = await handle.stat()
    if (s.isDirectory()) return fail('is a directory, not a config file')
    if (s.size > MAX_CONFIG_BYTES) return fail(`config file is larger than ${MAX_CONFIG_BYTES} bytes`)
    // Read one byte more than the bound in case the file grew since stat.
    const buf = Buffer.alloc(Math.min(s.size, MAX_CONFIG_BYTES) + 1)
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0)
    if (bytesRead > MAX_CONFIG_BYTES) return fail(`config file is larger than ${MAX_CONFIG_BYTES} bytes`)
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, bytesRead))
    } catch {
      return fail('config file is not valid UTF-8')
    }
  } catch (err) {
    return fail(`config file cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
  } finally {
    await handle.close()
  }
}
