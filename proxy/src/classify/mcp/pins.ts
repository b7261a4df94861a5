// Tool definition pinning against "rug pulls": an MCP server that shows a harmless tool, gets it
// allowed, and later changes its definition (a new description is read by the model, and can carry
// instructions to it; a new input schema changes what the call does). toolgate keeps a digest of
// each allowed tool's definition as the server listed it: declared in the config
// (mcp.pin.definitions, the digests toolgate prints in its records) or learned the first time
// the tool is listed. When a listing shows a definition that differs from the pin, the tool is
// "changed": with on_change: refuse (default) it is hidden from lists and its calls are refused;
// with flag they pass and the record says so. Either way a record names the fields that changed.
// A changed tool stays changed until the operator declares its new digest (or toolgate restarts,
// which forgets learned pins: declare digests for tools that matter).
//
// The book also keeps, per tool, the x-mcp-header annotations of its input schema: the 2026-07-28
// Mcp-Param-* headers are checked against them (http-headers.ts).
//
// Bounded: at most MAX_PINNED_PER_TOOL definitions per toolgate tool and MAX_PINNED per book; past
// that, new tools are not learned (and are treated as unknown: their Mcp-Param-* headers cannot be
// checked and are refused). The per-tool bound keeps one server that lists thousands of tools from
// filling the shared book so that no other server's tools are pinned any more.

import { createHash } from 'node:crypto'
import { foldKey } from './keys.ts'

export const MAX_PINNED = 10_000
/** Definitions one toolgate tool (one MCP server) may pin: a tenth of the book. */
export const MAX_PINNED_PER_TOOL = 1_000
/** The fields of a tool definition that are pinned. */
export const PINNED_FIELDS = ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const

/** new: pinned now; same: matches its pin; changed: differs from its pin; unpinned: the book is full, not pinned. */
export type PinState = 'new' | 'same' | 'changed' | 'unpinned'

export interface PinObservation {
  state: PinState
  digest: string
  /** Pinned fields whose value differs from the pinned definition (or ['digest'] when only a declared digest is known). */
  changed: string[]
}

/** Property path (in arguments) -> header token, from `x-mcp-header` annotations on a pure `properties` chain. */
export type HeaderMap = ReadonlyMap<string, { path: readonly string[]; type: string | undefined }>

interface Entry {
  digest: string
  definition: Record<string, unknown>
  changed: string[] | null
  headers: HeaderMap
  /** Folded name -> exact name of the input schema's top-level properties. */
  properties: ReadonlyMap<string, string>
}

function propertyFolds(inputSchema: unknown): Map<string, string> {
  const out = new Map<string, string>()
  const props = inputSchema !== null && typeof inputSchema === 'object' ? (inputSchema as Record<string, unknown>)['properties'] : undefined
  if (props !== null && typeof props === 'object') for (const k of Object.keys(props as object)) out.set(foldKey(k), k)
  return out
}

/** Deterministic JSON: object keys sorted, so the digest does not depend on key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>
    return `{${Object.keys(o).sort().filter((k) => o[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}

export function pinnedDefinition(tool: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of PINNED_FIELDS) if (tool[f] !== undefined) out[f] = tool[f]
  return out
}

export function definitionDigest(tool: Record<string, unknown>): string {
  return 'sha256:' + createHash('sha256').update(canonicalJson(pinnedDefinition(tool))).digest('hex')
}

/** The x-mcp-header annotations of an input schema, by header token (lower-cased). */
export function headerMap(inputSchema: unknown): HeaderMap {
  const out = new Map<string, { path: string[]; type: string | undefined }>()
  const walk = (schema: unknown, path: string[]): void => {
    if (schema === null || typeof schema !== 'object' || path.length > 16) return
    const props = (schema as Record<string, unknown>)['properties']
    if (props === null || typeof props !== 'object') return
    for (const [key, sub] of Object.entries(props as Record<string, unknown>)) {
      if (sub === null || typeof sub !== 'object') continue
      const token = (sub as Record<string, unknown>)['x-mcp-header']
      const type = (sub as Record<string, unknown>)['type']
      if (typeof token === 'string') out.set(token.toLowerCase(), { path: [...path, key], type: typeof type === 'string' ? type : undefined })
      walk(sub, [...path, key])
    }
  }
  walk(inputSchema, [])
  return out
}

export class McpToolBook {
  private readonly entries = new Map<string, Entry>()
  /** Pinned definitions per toolgate tool. */
  private readonly perTool = new Map<string, number>()

  /** Room for one more pin of this tool: within its own quota and the book's. */
  private room(tool: string): boolean {
    return this.entries.size < MAX_PINNED && (this.perTool.get(tool) ?? 0) < MAX_PINNED_PER_TOOL
  }

  private pin(tool: string, key: string, entry: Entry): void {
    this.entries.set(key, entry)
    this.perTool.set(tool, (this.perTool.get(tool) ?? 0) + 1)
  }

  private key(tool: string, name: string): string {
    return `${tool}\u0000${name}`
  }

  /** Records a listed definition of an allowed tool and says how it compares with the pin. */
  observe(tool: string, definition: Record<string, unknown>, declared: string | undefined): PinObservation {
    const name = String(definition['name'])
    const digest = definitionDigest(definition)
    const pinned = pinnedDefinition(definition)
    const key = this.key(tool, name)
    const entry = this.entries.get(key)
    if (entry === undefined) {
      const changed = declared !== undefined && declared !== digest ? ['digest'] : null
      if (changed !== null) {
        if (this.room(tool)) this.pin(tool, key, { digest, definition: pinned, changed, headers: headerMap(definition['inputSchema']), properties: propertyFolds(definition['inputSchema']) })
        return { state: 'changed', digest, changed }
      }
      if (!this.room(tool)) return { state: 'unpinned', digest, changed: [] }
      this.pin(tool, key, { digest, definition: pinned, changed, headers: headerMap(definition['inputSchema']), properties: propertyFolds(definition['inputSchema']) })
      return { state: 'new', digest, changed: [] }
    }
    if (entry.digest === digest && entry.changed === null) return { state: 'same', digest, changed: [] }
    if (entry.digest === digest && entry.changed !== null) return { state: 'changed', digest, changed: entry.changed }
    // A different definition than the pinned one: remember what differs; the pin stays.
    const changed = PINNED_FIELDS.filter((f) => canonicalJson(entry.definition[f]) !== canonicalJson(pinned[f]))
    entry.changed = changed.length > 0 ? [...changed] : ['digest']
    return { state: 'changed', digest, changed: entry.changed }
  }

  /** Fields that changed when the tool's definition no longer matches its pin; null when it matches or is unknown. */
  changed(tool: string, name: string): string[] | null {
    return this.entries.get(this.key(tool, name))?.changed ?? null
  }

  /**
   * An argument key that is a case variant of a property of the tool's pinned input schema
   * ("Repo" for "repo"): the policy reads arguments.repo and sees nothing, while a server that
   * matches keys case-insensitively (Go's encoding/json) runs with it. Null when none (or unknown tool).
   */
  caseVariantArgument(tool: string, name: string, args: unknown): { key: string; property: string } | null {
    const props = this.entries.get(this.key(tool, name))?.properties
    if (props === undefined || args === null || typeof args !== 'object' || Array.isArray(args)) return null
    for (const k of Object.keys(args)) {
      const property = props.get(foldKey(k))
      if (property !== undefined && property !== k) return { key: k, property }
    }
    return null
  }

  /** The x-mcp-header map of a tool as pinned, or null when the tool was never listed. */
  headers(tool: string, name: string): HeaderMap | null {
    return this.entries.get(this.key(tool, name))?.headers ?? null
  }
}
