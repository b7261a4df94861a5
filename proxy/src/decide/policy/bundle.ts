// Turns the files of an OPA bundle into what the engine loads: the manifest (revision, roots,
// metadata), the single policy.wasm, and the data document assembled from every data.json by
// its directory. Roots are honoured as OPA does: every data path and every Rego package in the
// bundle must lie under one of the manifest's roots (absent roots = the bundle owns everything).
// data.yaml files and plan bundles are not supported and are refused rather than ignored.

import { BundleFormatError } from './bundle-archive.ts'
import { isSignaturesFile } from './bundle-signature.ts'

export interface BundleManifest {
  revision: string
  /** Slash-separated root paths ("" = everything). */
  roots: string[]
  metadata: Record<string, unknown>
  /** entrypoint -> wasm module path, from the manifest's wasm resolvers. */
  wasm: Array<{ entrypoint: string; module: string }>
}

export interface ParsedBundle {
  manifest: BundleManifest
  wasm: Buffer
  data: Record<string, unknown>
}

type JsonObject = Record<string, unknown>
const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v)

function parseManifest(bytes: Buffer | undefined): BundleManifest {
  if (bytes === undefined) return { revision: '', roots: [''], metadata: {}, wasm: [] }
  let raw: unknown
  try {
    raw = JSON.parse(bytes.toString('utf8'))
  } catch (err) {
    throw new BundleFormatError(`.manifest is not valid JSON: ${(err as Error).message}`)
  }
  if (!isObject(raw)) throw new BundleFormatError('.manifest is not a JSON object')
  const revision = raw['revision'] ?? ''
  if (typeof revision !== 'string') throw new BundleFormatError('.manifest revision is not a string')
  let roots: string[] = ['']
  if (raw['roots'] !== undefined) {
    if (!Array.isArray(raw['roots']) || !raw['roots'].every((r) => typeof r === 'string')) {
      throw new BundleFormatError('.manifest roots is not a list of strings')
    }
    roots = (raw['roots'] as string[]).map((r) => r.replace(/^\/+|\/+$/g, ''))
  }
  for (const a of roots) {
    for (const b of roots) {
      if (a !== b && (a === '' || b.startsWith(`${a}/`))) throw new BundleFormatError(`.manifest roots ${JSON.stringify(a)} and ${JSON.stringify(b)} overlap`)
    }
  }
  const metadata = raw['metadata'] ?? {}
  if (!isObject(metadata)) throw new BundleFormatError('.manifest metadata is not an object')
  const wasm: BundleManifest['wasm'] = []
  if (raw['wasm'] !== undefined) {
    if (!Array.isArray(raw['wasm'])) throw new BundleFormatError('.manifest wasm is not a list')
    for (const w of raw['wasm']) {
      if (!isObject(w) || typeof w['entrypoint'] !== 'string' || typeof w['module'] !== 'string') {
        throw new BundleFormatError('.manifest wasm entry needs an entrypoint and a module')
      }
      wasm.push({ entrypoint: w['entrypoint'], module: w['module'].replace(/^\/+/, '') })
    }
  }
  return { revision, roots, metadata, wasm }
}

function underRoots(path: string, roots: string[]): boolean {
  return roots.some((r) => r === '' || path === r || path.startsWith(`${r}/`))
}

/** Data paths (slash separated) of the leaves-or-subtrees a document contributes at `prefix`. */
function checkDataRoots(prefix: string[], value: unknown, roots: string[], where: string): void {
  const path = prefix.join('/')
  if (underRoots(path, roots)) return
  // Above every root: only objects may pass through, each key checked further down.
  const isAncestor = roots.some((r) => path === '' || r.startsWith(`${path}/`))
  if (!isAncestor || !isObject(value)) throw new BundleFormatError(`${where}: data at /${path} is outside the manifest roots`)
  for (const [k, v] of Object.entries(value)) checkDataRoots([...prefix, k], v, roots, where)
}

function insertData(target: JsonObject, prefix: string[], value: unknown, where: string): JsonObject {
  if (prefix.length === 0) {
    if (!isObject(value)) throw new BundleFormatError(`${where}: the root data.json must hold an object`)
    return mergeData(target, value, where)
  }
  let node = target
  for (const key of prefix.slice(0, -1)) {
    const next = node[key]
    if (next === undefined) node = node[key] = {}
    else if (isObject(next)) node = next
    else throw new BundleFormatError(`${where}: conflicts with data at ${key}`)
  }
  const last = prefix[prefix.length - 1] as string
  const existing = node[last]
  if (existing === undefined) node[last] = value
  else if (isObject(existing) && isObject(value)) node[last] = mergeData(existing, value, where)
  else throw new BundleFormatError(`${where}: conflicts with other data at /${prefix.join('/')}`)
  return target
}

function mergeData(a: JsonObject, b: JsonObject, where: string): JsonObject {
  const out: JsonObject = { ...a }
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k]
    if (cur === undefined) out[k] = v
    else if (isObject(cur) && isObject(v)) out[k] = mergeData(cur, v, where)
    else throw new BundleFormatError(`${where}: conflicting data at key ${k}`)
  }
  return out
}

const PACKAGE = /^\s*package\s+([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*|\["[^"]*"\])*)/m

export function parseBundle(files: ReadonlyMap<string, Buffer>): ParsedBundle {
  const manifest = parseManifest(files.get('.manifest'))
  let data: JsonObject = {}
  const wasmFiles: string[] = []
  for (const [path, bytes] of files) {
    const base = path.slice(path.lastIndexOf('/') + 1)
    const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')).split('/') : []
    if (path === '.manifest' || isSignaturesFile(path)) continue
    if (base === 'data.json') {
      let value: unknown
      try {
        value = JSON.parse(bytes.toString('utf8'))
      } catch (err) {
        throw new BundleFormatError(`${path} is not valid JSON: ${(err as Error).message}`)
      }
      checkDataRoots(dir, value, manifest.roots, path)
      data = insertData(data, dir, value, path)
    } else if (base === 'data.yaml' || base === 'data.yml') {
      throw new BundleFormatError(`${path}: YAML data files are not supported; use data.json`)
    } else if (base === 'plan.json') {
      throw new BundleFormatError(`${path}: plan bundles are not supported; build with -t wasm`)
    } else if (base === 'policy.wasm') {
      wasmFiles.push(path)
    } else if (path.endsWith('.rego')) {
      const m = PACKAGE.exec(bytes.toString('utf8'))
      if (!m) throw new BundleFormatError(`${path} has no package declaration`)
      const pkg = (m[1] as string).replace(/\["([^"]*)"\]/g, '.$1').split('.').join('/')
      if (!underRoots(pkg, manifest.roots)) throw new BundleFormatError(`${path}: package ${m[1]} is outside the manifest roots`)
    }
  }
  if (wasmFiles.length === 0) throw new BundleFormatError('bundle has no policy.wasm (build it with opa build -t wasm)')
  let wasmPath = wasmFiles[0] as string
  if (wasmFiles.length > 1) {
    const named = new Set(manifest.wasm.map((w) => w.module))
    const candidates = wasmFiles.filter((f) => named.has(f))
    if (candidates.length !== 1) throw new BundleFormatError(`bundle has ${wasmFiles.length} policy.wasm modules; toolgate loads exactly one`)
    wasmPath = candidates[0] as string
  }
  return { manifest, wasm: files.get(wasmPath) as Buffer, data }
}
