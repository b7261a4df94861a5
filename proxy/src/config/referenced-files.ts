// `toolgate check` goes one step further than loading: every file the config names must exist
// and be readable by this process. Only metadata is touched (stat/access); secret contents are
// never read, so nothing secret can reach an error message.
//
// Which fields are files: by convention every string field whose key ends in `_file`, every
// list whose key ends in `_files`, plus policy.bundle (when not a URL), policy.signing.public_key,
// and the destinations logging.records / tls.ca.publish_* (their directory must exist).
// Providers and features added later get checked without touching this module if they follow
// the convention.

import { constants } from 'node:fs'
import { access, stat } from 'node:fs/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import { formatPath, type ConfigError } from './errors.ts'
import type { ResolvedConfig } from './resolved.ts'
import { parseYaml, type PathSegment } from './yaml-source.ts'

interface FileRef {
  path: PathSegment[]
  /** Absolute path on disk. */
  target: string
  /** 'read': the file must be readable; 'dir': its directory must exist (it is written). */
  need: 'read' | 'dir'
}

/** Every referenced file in the config that is missing, unreadable or not a regular file. */
export async function checkReferencedFiles(config: ResolvedConfig): Promise<ConfigError[]> {
  const parsed = parseYaml(config.source.text, config.source.file)
  if (!parsed.ok) return parsed.errors
  const refs = collectFileRefs(parsed.parsed.value, config.source.dir)
  const errors: ConfigError[] = []
  await Promise.all(refs.map(async (ref) => {
    const problem = await fileProblem(ref)
    if (problem === null) return
    const pos = parsed.parsed.locate(ref.path)
    errors.push({ file: config.source.file, line: pos.line, column: pos.column, path: formatPath(ref.path), message: problem })
  }))
  return errors
}

export function collectFileRefs(value: unknown, dir: string): FileRef[] {
  const refs: FileRef[] = []
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(dir, p))
  const walk = (node: unknown, path: PathSegment[], depth: number): void => {
    if (depth > 32 || node === null || typeof node !== 'object') return
    if (Array.isArray(node)) {
      node.forEach((v, i) => walk(v, [...path, i], depth + 1))
      return
    }
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      const here = [...path, k]
      if (k.endsWith('_file') && typeof v === 'string' && v !== '') refs.push({ path: here, target: abs(v), need: 'read' })
      else if (k.endsWith('_files') && Array.isArray(v)) {
        v.forEach((f, i) => {
          if (typeof f === 'string' && f !== '') refs.push({ path: [...here, i], target: abs(f), need: 'read' })
        })
      } else walk(v, here, depth + 1)
    }
  }
  walk(value, [], 0)
  const root = (value ?? {}) as Record<string, Record<string, unknown> | undefined>
  const bundle = root.policy?.bundle
  if (typeof bundle === 'string' && !/^https?:\/\//i.test(bundle)) refs.push({ path: ['policy', 'bundle'], target: abs(bundle), need: 'read' })
  const key = (root.policy?.signing as Record<string, unknown> | undefined)?.public_key
  if (typeof key === 'string') refs.push({ path: ['policy', 'signing', 'public_key'], target: abs(key), need: 'read' })
  const records = root.logging?.records
  if (typeof records === 'string' && records !== 'stdout') refs.push({ path: ['logging', 'records'], target: abs(records), need: 'dir' })
  const checkpointKey = (root.logging?.checkpoints as Record<string, unknown> | undefined)?.key_file
  if (typeof checkpointKey === 'string') refs.push({ path: ['logging', 'checkpoints', 'key_file'], target: abs(checkpointKey), need: 'read' })
  const ca = root.tls?.ca as Record<string, unknown> | undefined
  for (const field of ['publish_cert_to', 'publish_truststore_to', 'publish_wgetrc_to']) {
    const publish = ca?.[field]
    if (typeof publish === 'string') refs.push({ path: ['tls', 'ca', field], target: abs(publish), need: 'dir' })
  }
  return refs
}

async function fileProblem(ref: FileRef): Promise<string | null> {
  if (ref.need === 'dir') {
    const dir = dirname(ref.target)
    const s = await stat(dir).catch(() => null)
    if (!s?.isDirectory()) return `directory ${dir} does not exist (needed to write ${ref.target})`
    return null
  }
  const s = await stat(ref.target).catch((err: NodeJS.ErrnoException) => err)
  if (s instanceof Error) {
    if (s.code === 'ENOENT' || s.code === 'ENOTDIR') return `file ${ref.target} does not exist`
    if (s.code === 'EACCES') return `file ${ref.target} cannot be accessed (permission denied)`
    return `file ${ref.target} cannot be accessed (${s.code ?? 'error'})`
  }
  if (!s.isFile()) return `${ref.target} is not a regular file`
  try {
    await access(ref.target, constants.R_OK)
  } catch {
    return `file ${ref.target} is not readable by this process`
  }
  return null
}
