// The HTTP headers of MCP 2026-07-28 (SEP-2243) that mirror the body: Mcp-Method (the JSON-RPC
// method), Mcp-Name (params.name of tools/call and prompts/get, params.uri of resources/read) and
// Mcp-Param-<token> (tools/call arguments whose input-schema property carries an `x-mcp-header`
// annotation). Intermediaries and servers may route or authorise on these headers without reading
// the body, so a header that says something the body does not is a second view of the request:
// toolgate decides on the body, so every such header must agree with it, in both directions.
// Refused with JSON-RPC -32020 (HeaderMismatch), HTTP 400:
// - a header that disagrees with the body, or is repeated, or carries a malformed base64 value;
// - an orphan header: Mcp-Method on a response or a batch, Mcp-Name on a method without a name,
//   Mcp-Param-* on anything but a tools/call whose pinned schema annotates that header;
// - on a 2026-07-28 request (MCP-Protocol-Version header or params._meta version), a missing
//   Mcp-Method or Mcp-Name, a version header that differs from the _meta version, or a missing
//   Mcp-Param-* for an annotated argument that is present;
// - Mcp-Param-* headers for a tool toolgate has not seen listed (no schema to check them against).
// Requests of the handshake-era revisions (2025-06-18, 2025-11-25) carry none of these headers
// and are unaffected unless they send some, which must then agree too.

import type { McpMessage } from './parse.ts'
import type { HeaderMap } from './pins.ts'

export const HEADER_MISMATCH = -32020
export const MODERN_VERSION = '2026-07-28'

export interface McpHeaderView {
  method: string | undefined
  name: string | undefined
  version: string | undefined
  /** Mcp-Param-* by lower-cased token. */
  params: Map<string, string>
  /** Lower-cased names of MCP headers that appear more than once. */
  repeated: string[]
}

export function readMcpHeaders(rawHeaders: readonly string[]): McpHeaderView {
  const view: McpHeaderView = { method: undefined, name: undefined, version: undefined, params: new Map(), repeated: [] }
  const seen = new Set<string>()
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase()
    const value = rawHeaders[i + 1]!
    if (name !== 'mcp-method' && name !== 'mcp-name' && name !== 'mcp-protocol-version' && !name.startsWith('mcp-param-')) continue
    if (seen.has(name)) view.repeated.push(name)
    seen.add(name)
    if (name === 'mcp-method') view.method = value
    else if (name === 'mcp-name') view.name = value
    else if (name === 'mcp-protocol-version') view.version = value
    else view.params.set(name.slice('mcp-param-'.length), value)
  }
  return view
}

/** Revisions are dates: 2026-07-28 and later carry the mirrored headers. */
export function isModernVersion(v: string | null | undefined): boolean {
  return typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) && v >= MODERN_VERSION
}

const B64_SENTINEL = /^=\?base64\?(.*)\?=$/s
const utf8 = new TextDecoder('utf-8', { fatal: true })

/** A header value as the sender meant it: verbatim, or the decoded `=?base64?...?=` sentinel; null when malformed. */
export function decodeHeaderValue(raw: string): string | null {
  const m = B64_SENTINEL.exec(raw)
  if (!m) return raw
  const payload = m[1]!
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(payload) || payload.length % 4 !== 0) return null
  const bytes = Buffer.from(payload, 'base64')
  if (bytes.toString('base64') !== payload) return null // non-canonical base64
  try {
    return utf8.decode(bytes)
  } catch {
    return null
  }
}

/** How a client renders an argument into Mcp-Param-*: strings verbatim, integers in decimal, booleans; null for anything else. */
function renderScalar(v: unknown): string | null {
  if (typeof v === 'string') return v
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  if (typeof v === 'number' && Number.isFinite(v)) return Number.isInteger(v) ? String(v) : String(v)
  return null
}

function valueAt(args: unknown, path: readonly string[]): unknown {
  let v: unknown = args
  for (const k of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, k)) return undefined
    v = (v as Record<string, unknown>)[k]
  }
  return v
}

export type HeaderCheck = { ok: true; modern: boolean } | { ok: false; reason: string; id: string | number | null }

/**
 * Checks the mirrored headers against the parsed body. `schemaOf(toolName)` gives the pinned
 * x-mcp-header map of a tool (null when toolgate never saw the tool listed).
 */
export function checkMcpHeaders(view: McpHeaderView, messages: readonly McpMessage[], batch: boolean, schemaOf: (toolName: string) => HeaderMap | null): HeaderCheck {
  const modern = isModernVersion(view.version) || messages.some((m) => isModernVersion(m.metaVersion))
  const first = messages[0]!
  const id = first.kind === 'request' ? first.call.id : null
  const refuse = (reason: string): HeaderCheck => ({ ok: false, reason, id })
  if (view.repeated.length > 0) return refuse(`header ${view.repeated[0]} appears more than once`)
  const mirrored = view.method !== undefined || view.name !== undefined || view.params.size > 0
  if (batch) return mirrored ? refuse('Mcp-Method, Mcp-Name and Mcp-Param-* cannot describe a batch') : { ok: true, modern }
  if (first.kind === 'response') return mirrored ? refuse('Mcp-Method, Mcp-Name or Mcp-Param-* on a response') : { ok: true, modern }
  const method = first.call.method

  if (view.version !== undefined && first.metaVersion !== null && view.version !== first.metaVersion) {
    return refuse(`MCP-Protocol-Version header ${JSON.stringify(view.version.slice(0, 40))} differs from the body's _meta protocol version ${JSON.stringify(first.metaVersion.slice(0, 40))}`)
  }
  if (view.method !== undefined && view.method !== method) return refuse(`Mcp-Method header ${JSON.stringify(view.method.slice(0, 80))} differs from the body's method ${JSON.stringify(method.slice(0, 80))}`)
  if (view.method === undefined && modern) return refuse('Mcp-Method header missing on a 2026-07-28 request')

  if (view.name !== undefined) {
    if (first.nameParam === null) return refuse(`Mcp-Name header on ${JSON.stringify(method.slice(0, 80))}, which names nothing`)
    const decoded = decodeHeaderValue(view.name)
    if (decoded === null) return refuse('Mcp-Name header carries a malformed base64 value')
    if (decoded !== first.nameParam) return refuse(`Mcp-Name header ${JSON.stringify(decoded.slice(0, 80))} differs from the body's ${JSON.stringify(first.nameParam.slice(0, 80))}`)
  } else if (first.nameParam !== null && modern) {
    return refuse('Mcp-Name header missing on a 2026-07-28 request')
  }

  if (view.params.size > 0 || (modern && method === 'tools/call')) {
    const params = checkParamHeaders(view.params, first, schemaOf, modern)
    if (params !== null) return refuse(params)
  }
  return { ok: true, modern }
}

function checkParamHeaders(params: Map<string, string>, m: McpMessage, schemaOf: (toolName: string) => HeaderMap | null, modern: boolean): string | null {
  if (m.call.method !== 'tools/call' || m.call.toolName === null) {
    return params.size > 0 ? `Mcp-Param-* header on ${JSON.stringify(m.call.method.slice(0, 80))} (only tools/call mirrors arguments)` : null
  }
  const map = schemaOf(m.call.toolName)
  if (map === null) {
    return params.size > 0 ? `Mcp-Param-* headers for tool ${JSON.stringify(m.call.toolName.slice(0, 80))}, whose schema toolgate has not seen listed: they cannot be checked against the arguments` : null
  }
  for (const token of params.keys()) {
    if (!map.has(token)) return `Mcp-Param-${token} header matches no x-mcp-header annotation of tool ${JSON.stringify(m.call.toolName.slice(0, 80))}`
  }
  for (const [token, { path, type }] of map) {
    const raw = params.get(token)
    const value = valueAt(m.call.arguments, path)
    const argument = path.join('.')
    if (value === undefined || value === null) {
      if (raw !== undefined) return `Mcp-Param-${token} header present but argument ${JSON.stringify(argument)} is absent`
      continue
    }
    const rendered = renderScalar(value)
    if (rendered === null) {
      if (raw !== undefined) return `Mcp-Param-${token} header cannot mirror argument ${JSON.stringify(argument)} (not a scalar)`
      continue
    }
    if (raw === undefined) {
      if (modern) return `Mcp-Param-${token} header missing for argument ${JSON.stringify(argument)}`
      continue
    }
    const decoded = decodeHeaderValue(raw)
    if (decoded === null) return `Mcp-Param-${token} header carries a malformed base64 value`
    const same = decoded === rendered || (type === 'integer' && typeof value === 'number' && /^-?\d+(\.0+)?$/.test(decoded) && Number(decoded) === value)
    if (!same) return `Mcp-Param-${token} header differs from argument ${JSON.stringify(argument)}`
  }
  return null
}
