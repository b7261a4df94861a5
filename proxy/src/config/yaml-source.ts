// Parses toolgate.yaml with the `yaml` package, keeping the node tree and a LineCounter so that
// every later check (schema, semantics, referenced files) can point at the line and column of
// the node it is about. Only one document, a mapping at the root, plain string keys, no custom
// tags, bounded size and bounded alias expansion are accepted.

import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node } from 'yaml'
import type { ConfigError } from './errors.ts'
import { formatPath } from './errors.ts'

/** Largest config file accepted: far above any real allowlist, small enough to parse instantly. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024
/** Alias expansions allowed when turning the tree into values ("billion laughs" bound). */
export const MAX_ALIAS_COUNT = 100
/** Lines with syntax errors reported before the rest is considered fallout of the first. */
const MAX_SYNTAX_ERROR_LINES = 3

export type PathSegment = string | number

export interface Position {
  line: number
  column: number
}

export interface ParsedYaml {
  /** The document as plain JSON-like values. */
  value: unknown
  /**
   * Where the node at `path` is written. `at: 'key'` points at the mapping key when the last
   * segment is one (unknown fields, missing fields); otherwise at the value. A path that does
   * not exist in the tree (a default, a merged key) gives the deepest node that does.
   */
  locate(path: readonly PathSegment[], at?: 'key' | 'value'): Position
}

export type ParseYamlResult = { ok: true; parsed: ParsedYaml } | { ok: false; errors: ConfigError[] }

export function parseYaml(text: string, file: string): ParseYamlResult {
  const errorAt = (pos: Position, path: string, message: string): ConfigError => ({ file, line: pos.line, column: pos.column, path, message })
  if (Buffer.byteLength(text, 'utf8') > MAX_CONFIG_BYTES) {
    return { ok: false, errors: [errorAt({ line: 1, column: 1 }, '', `the file is larger than ${MAX_CONFIG_BYTES} bytes`)] }
  }
  const lineCounter = new LineCounter()
  // merge: '<<' merge keys are common in hand-written YAML; uniqueKeys: a duplicate key is an
  // error, never "last one wins".
  const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false, merge: true })
  const posOf = (offset: number): Position => {
    const p = lineCounter.linePos(offset)
    return { line: p.line, column: p.col }
  }
  if (!Array.isArray(docs) || docs.length === 0) {
    return { ok: false, errors: [errorAt({ line: 1, column: 1 }, '', 'the file is empty: expected a mapping with at least version and tools')] }
  }
  const doc = docs[0] as Document.Parsed
  const errors: ConfigError[] = []
  for (const extra of docs.slice(1)) {
    errors.push(errorAt(posOf(extra.range[0]), '', 'more than one YAML document: a config file holds exactly one (remove the --- separator)'))
  }
  const pathAt = (offset: number): string => formatPath(pathOfOffset(doc, offset))
  // One broken token makes the parser report every token after it: keep the first syntax error
  // of a line and a few lines (the first is what needs fixing). Duplicate keys and unsupported
  // tags are independent findings and are all kept.
  const syntaxLines = new Set<number>()
  let suppressed = 0
  for (const e of [...doc.errors, ...doc.warnings]) {
    const where = posOf(e.pos[0])
    if (e.code !== 'DUPLICATE_KEY' && e.code !== 'TAG_RESOLVE_FAILED') {
      if (syntaxLines.has(where.line) || syntaxLines.size >= MAX_SYNTAX_ERROR_LINES) {
        suppressed++
        continue
      }
      syntaxLines.add(where.line)
    }
    // The error range of a duplicate key may cover only its first character: take the key text.
    const source = e.code === 'DUPLICATE_KEY' ? (/^("[^"\n]*"|'[^'\n]*'|[^:\n]+?)\s*:/.exec(text.slice(e.pos[0], e.pos[0] + 200))?.[1] ?? '') : text.slice(e.pos[0], e.pos[1])
    errors.push(errorAt(where, pathAt(e.pos[0]), yamlMessage(e.code, e.message, source)))
  }
  const last = errors[errors.length - 1]
  if (suppressed > 0 && last) last.message += ` (${suppressed} further syntax errors after this one not shown)`
  if (errors.length > 0) return { ok: false, errors }

  const root = doc.contents
  if (!isMap(root)) {
    const offset = root?.range?.[0] ?? 0
    const what = root === null ? 'nothing' : isSeq(root) ? 'a list' : 'a single value'
    return { ok: false, errors: [errorAt(posOf(offset), '', `the document must be a mapping (version, tools, ...), found ${what}`)] }
  }
  errors.push(...nonStringKeys(doc, file, posOf))
  if (errors.length > 0) return { ok: false, errors }

  let value: unknown
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
  } catch (err) {
    const alias = firstAlias(root)
    const where = alias?.range ? posOf(alias.range[0]) : { line: 1, column: 1 }
    const reason = err instanceof ReferenceError && /alias/i.test(err.message)
      ? `aliases expand to too many nodes (limit ${MAX_ALIAS_COUNT}): resource exhaustion refused`
      : `cannot be read: ${(err as Error).message}`
    return { ok: false, errors: [errorAt(where, alias ? pathAt(alias.range![0]) : '', reason)] }
  }
  return {
    ok: true,
    parsed: {
      value,
      locate: (path, at = 'value') => posOf(offsetOf(doc, path, at)),
    },
  }
}

/** Human wording for the yaml package's error codes, with the offending source text. */
function yamlMessage(code: string, message: string, source: string): string {
  const snippet = source.length > 0 && source.length <= 60 ? source : ''
  switch (code) {
    case 'DUPLICATE_KEY':
      return `duplicate key${snippet ? ` '${snippet}'` : ''}: each key may appear once in a mapping`
    case 'TAG_RESOLVE_FAILED':
      return `unsupported YAML tag${snippet ? ` '${snippet}'` : ''}: only plain YAML values are allowed`
    case 'BAD_ALIAS':
    case 'ALIAS_PROPS':
      return `invalid alias: ${message}`
    default:
      return `YAML syntax error: ${message}`
  }
}

function resolveAlias(doc: Document.Parsed, node: unknown): unknown {
  // Bounded: an alias can only point at an anchor defined before it, so following is finite, but
  // cap the hops anyway.
  let n = node
  for (let i = 0; i < 16 && isAlias(n); i++) n = n.resolve(doc)
  return n
}

/** Source offset of the node at `path` (or of the deepest existing ancestor). */
function offsetOf(doc: Document.Parsed, path: readonly PathSegment[], at: 'key' | 'value'): number {
  let node: unknown = doc.contents
  let offset = (node as Node | null)?.range?.[0] ?? 0
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]
    const last = i === path.length - 1
    node = resolveAlias(doc, node)
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg))
      if (!pair) return offset
      const keyOffset = (pair.key as Node).range?.[0] ?? offset
      if (last && at === 'key') return keyOffset
      const value = pair.value as Node | null
      // `key:` with nothing after it has no value node worth pointing at: use the key.
      offset = value?.range && !(isScalar(value) && value.value === null) ? value.range[0] : keyOffset
      node = value
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined
      if (!item) return offset
      offset = item.range?.[0] ?? offset
      node = item
    } else {
      return offset
    }
  }
  return offset
}

/** Path of the deepest node whose source range holds `offset` (for syntax errors). */
function pathOfOffset(doc: Document.Parsed, offset: number): PathSegment[] {
  const path: PathSegment[] = []
  let node: unknown = doc.contents
  for (let depth = 0; depth < 64; depth++) {
    if (isMap(node)) {
      const pair = node.items.find((p) => {
        const k = p.key as Node | null
        const v = p.value as Node | null
        const start = k?.range?.[0] ?? v?.range?.[0]
        const end = v?.range?.[2] ?? k?.range?.[2]
        return start !== undefined && end !== undefined && offset >= start && offset <= end
      })
      if (!pair || !isScalar(pair.key)) return path
      path.push(String(pair.key.value))
      node = pair.value
    } else if (isSeq(node)) {
      const idx = node.items.findIndex((it) => {
        const r = (it as Node | null)?.range
        return r != null && offset >= r[0] && offset <= r[2]
      })
      if (idx < 0) return path
      path.push(idx)
      node = node.items[idx]
    } else {
      return path
    }
  }
  return path
}

/** Mapping keys must be plain scalars (no `? [a, b]: x`, no `null:`), else paths are meaningless. */
function nonStringKeys(doc: Document.Parsed, file: string, posOf: (o: number) => Position): ConfigError[] {
  const errors: ConfigError[] = []
  const walk = (node: unknown, path: PathSegment[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = pair.key as Node | null
        if (!isScalar(key) || key.value === null || typeof key.value === 'object') {
          const offset = key?.range?.[0] ?? node.range?.[0] ?? 0
          const p = posOf(offset)
          errors.push({ file, line: p.line, column: p.column, path: formatPath(path), message: 'mapping keys must be plain strings' })
          continue
        }
        walk(pair.value, [...path, String(key.value)])
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]))
    }
  }
  walk(doc.contents, [])
  return errors
}

function firstAlias(node: unknown): Node | null {
  if (isAlias(node)) return node
  if (isMap(node)) {
    for (const p of node.items) {
      const found = firstAlias(p.value)
      if (found) return found
    }
  } else if (isSeq(node)) {
    for (const it of node.items) {
      const found = firstAlias(it)
      if (found) return found
    }
  }
  return null
}
