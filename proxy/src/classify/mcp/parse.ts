// Parses the body of a POST to an MCP server's Streamable HTTP endpoint into the JSON-RPC messages
// toolgate decides on. The pipeline parses the body once, decides every message, and forwards the
// SAME bytes it parsed: so this parser refuses anything another JSON or JSON-RPC parser could
// read differently (see strict-json.ts and the rules below) instead of picking one reading.
//
// Rules beyond strict JSON (each has a test in test/mcp/parse.test.ts):
// - Content-Type must be application/json (charset, if given, utf-8).
// - A message is an object with only jsonrpc/id/method/params/result/error; jsonrpc is "2.0".
// - id is a string or an integer literal (no 1.0, 1e0, booleans, objects); null only on an error
//   response; a request without id is a notification; a request with id null is refused.
// - params, when present, is an object; tools/call needs params.name (a string, compared after
//   JSON unescaping, without control/format characters) and params.arguments, when present, an object.
// - A batch (top-level array) returns every element; an empty batch is refused. Whether batches
//   are decided element by element or refused is the caller's choice (McpRules.batches).

import type { ValueNode, ObjectNode } from '@humanwhocodes/momoa'
import type { McpCall } from '../toolcall.ts'
import { member, memberNames, numberText, parseStrictJson, toValue } from './strict-json.ts'
import { nameProblem } from './names.ts'

export interface McpMessage {
  /** request: has method and id; notification: method, no id; response: result or error (a client answering a server-to-client request). */
  kind: 'request' | 'notification' | 'response'
  /** For responses, method is '' and toolName/arguments are null. */
  call: McpCall
  /** The body value the 2026-07-28 Mcp-Name header mirrors (params.name or params.uri, see NAME_PARAM), or null. */
  nameParam: string | null
  /** params._meta["io.modelcontextprotocol/protocolVersion"] (2026-07-28 stateless requests), or null. */
  metaVersion: string | null
  /** params.taskId of a tasks/* request (the MCP tasks extension), or null. */
  taskId: string | null
  /** A request that asks the server to run it as a task (params.task present): its result may create one. */
  taskRequested: boolean
}

/** Methods whose params value is mirrored in the Mcp-Name header (MCP 2026-07-28, SEP-2243). */
export const NAME_PARAM: Readonly<Record<string, string>> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' }
export const PROTOCOL_VERSION_META_KEY = 'io.modelcontextprotocol/protocolVersion'

/** JSON-RPC error code a refusal should carry: parse error, invalid request, invalid params. */
export type McpRefusalCode = -32700 | -32600 | -32602

export type McpParse =
  | { ok: true; batch: boolean; messages: McpMessage[] }
  | {
      ok: false
      reason: string
      /** The id of the refused message when it could be read, else null. */
      id: string | number | null
      code: McpRefusalCode
      /** HTTP status for the refusal: 400 malformed or ambiguous, 413 too large, 415 wrong content type. */
      status: 400 | 413 | 415
    }

type Failure = Extract<McpParse, { ok: false }>

const ENVELOPE_KEYS = new Set(['jsonrpc', 'id', 'method', 'params', 'result', 'error'])
const MAX_ID_CHARS = 256
const INTEGER_LITERAL = /^-?(0|[1-9][0-9]*)$/

export function parseMcpBody(body: Buffer, contentType: string | undefined, maxBytes: number, maxMessages = Infinity): McpParse {
  if (!isJsonContentType(contentType)) {
    return fail(`content type must be application/json, got ${contentType === undefined ? 'none' : JSON.stringify(contentType.slice(0, 100))}`, null, -32700, 415)
  }
  const json = parseStrictJson(body, maxBytes, undefined, maxMessages)
  if (!json.ok) {
    const status = json.kind === 'too_large' ? 413 : 400
    return fail(json.reason, null, json.kind === 'ambiguous' ? -32600 : -32700, status)
  }
  const root = json.root
  if (root.type === 'Array') {
    if (root.elements.length === 0) return fail('empty batch', null, -32600, 400)
    const messages: McpMessage[] = []
    for (let i = 0; i < root.elements.length; i++) {
      const m = parseMessage(root.elements[i]!.value, json.text)
      if (!m.ok) return { ...m, reason: `batch element ${i}: ${m.reason}` }
      messages.push(m.message)
    }
    return { ok: true, batch: true, messages }
  }
  const m = parseMessage(root, json.text)
  if (!m.ok) return m
  return { ok: true, batch: false, messages: [m.message] }
}

function fail(reason: string, id: string | number | null, code: McpRefusalCode, status: 400 | 413 | 415 = 400): Failure {
  return { ok: false, reason, id, code, status }
}

/** application/json with optional parameters; a charset other than utf-8 would change the bytes' meaning. */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false
  const [type, ...params] = contentType.split(';')
  if (type!.trim().toLowerCase() !== 'application/json') return false
  for (const p of params) {
    const [k, v] = p.split('=')
    if (k!.trim().toLowerCase() === 'charset' && (v ?? '').trim().replace(/^"|"$/g, '').toLowerCase() !== 'utf-8') return false
  }
  return true
}

type ParsedMessage = { ok: true; message: McpMessage } | Failure

function parseMessage(node: ValueNode, text: string): ParsedMessage {
  if (node.type !== 'Object') return fail('a JSON-RPC message must be an object', null, -32600)
  // Read the id first so that every later refusal can answer with it.
  const idNode = member(node, 'id')
  const id = idNode === undefined ? undefined : readId(idNode, text)
  if (id !== undefined && !id.ok) return fail(id.reason, null, -32600)
  const idValue = id === undefined ? null : id.value
  const refuse = (reason: string, code: McpRefusalCode = -32600): Failure => fail(reason, idValue, code)

  for (const k of memberNames(node)) {
    if (!ENVELOPE_KEYS.has(k)) return refuse(`unexpected member ${JSON.stringify(k.slice(0, 64))}`)
  }
  const version = member(node, 'jsonrpc')
  if (version === undefined || version.type !== 'String' || version.value !== '2.0') return refuse('jsonrpc must be "2.0"')

  const method = member(node, 'method')
  const result = member(node, 'result')
  const error = member(node, 'error')
  if (method === undefined) return parseResponse(node, idValue, id !== undefined, result, error, refuse)
  if (result !== undefined || error !== undefined) return refuse('a request cannot carry result or error')
  if (method.type !== 'String') return refuse('method must be a string')
  const methodProblem = nameProblem(method.value, 'method')
  if (methodProblem !== null) return refuse(methodProblem)
  if (id !== undefined && idValue === null) return refuse('a request id must not be null')

  const paramsNode = member(node, 'params')
  if (paramsNode !== undefined && paramsNode.type !== 'Object') return refuse('params must be an object', -32602)
  const call: McpCall = { method: method.value, id: idValue, toolName: null, arguments: null }
  if (method.value === 'tools/call') {
    const filled = readToolCall(paramsNode, call)
    if (filled !== null) return refuse(filled, -32602)
  }
  const params = paramsNode?.type === 'Object' ? paramsNode : undefined
  const str = (n: ValueNode | undefined): string | null => (n?.type === 'String' ? n.value : null)
  const nameKey = NAME_PARAM[method.value]
  const meta = params ? member(params, '_meta') : undefined
  const traceContext = readTraceMeta(paramsNode)
  if (traceContext !== null) call.traceContext = traceContext
  return {
    ok: true,
    message: {
      kind: id === undefined ? 'notification' : 'request',
      call,
      nameParam: params && nameKey !== undefined ? str(member(params, nameKey)) : null,
      metaVersion: meta?.type === 'Object' ? str(member(meta, PROTOCOL_VERSION_META_KEY)) : null,
      taskId: params && method.value.startsWith('tasks/') ? str(member(params, 'taskId')) : null,
      taskRequested: params !== undefined && member(params, 'task')?.type === 'Object',
    },
  }
}

function parseResponse(
  node: ObjectNode,
  id: string | number | null,
  hasId: boolean,
  result: ValueNode | undefined,
  error: ValueNode | undefined,
  refuse: (reason: string) => Failure,
): ParsedMessage {
  if (member(node, 'params') !== undefined) return refuse('params without method')
  if ((result === undefined) === (error === undefined)) return refuse('a message needs a method, or exactly one of result and error')
  if (!hasId) return refuse('a response needs an id')
  if (id === null && result !== undefined) return refuse('a result must carry a non-null id')
  if (error !== undefined && error.type !== 'Object') return refuse('error must be an object')
  return { ok: true, message: { kind: 'response', call: { method: '', id, toolName: null, arguments: null }, nameParam: null, metaVersion: null, taskId: null, taskRequested: false } }
}

function readId(node: ValueNode, text: string): { ok: true; value: string | number | null } | { ok: false; reason: string } {
  switch (node.type) {
    case 'String':
      if (node.value.length > MAX_ID_CHARS) return { ok: false, reason: `id longer than ${MAX_ID_CHARS} characters` }
      return { ok: true, value: node.value }
    case 'Number': {
      // The literal, not the value: 1.0 and 1e0 are integers to JavaScript but floats elsewhere.
      const raw = numberText(node, text)
      if (!INTEGER_LITERAL.test(raw) || !Number.isSafeInteger(node.value)) return { ok: false, reason: `id must be a string or an integer, got ${raw.slice(0, 40)}` }
      return { ok: true, value: node.value }
    }
    case 'Null':
      return { ok: true, value: null }
    default:
      return { ok: false, reason: `id must be a string or an integer, got ${node.type.toLowerCase()}` }
  }
}

/** Longest traceparent/tracestate taken from params._meta (W3C: tracestate at most 512 characters). */
const MAX_TRACE_META_CHARS = 512

/** params._meta.traceparent/tracestate (where MCP carries W3C trace context), or null. Only read for telemetry, never decided on. */
function readTraceMeta(params: ValueNode | undefined): McpCall['traceContext'] | null {
  if (params === undefined || params.type !== 'Object') return null
  const meta = member(params, '_meta')
  if (meta === undefined || meta.type !== 'Object') return null
  const parent = member(meta, 'traceparent')
  if (parent === undefined || parent.type !== 'String' || parent.value.length > MAX_TRACE_META_CHARS) return null
  const state = member(meta, 'tracestate')
  const tracestate = state !== undefined && state.type === 'String' && state.value.length <= MAX_TRACE_META_CHARS ? state.value : undefined
  return { traceparent: parent.value, ...(tracestate !== undefined ? { tracestate } : {}) }
}

/** Fills toolName/arguments of a tools/call; returns a reason when the params are unacceptable. */
function readToolCall(params: ValueNode | undefined, call: McpCall): string | null {
  if (params === undefined || params.type !== 'Object') return 'tools/call needs params'
  const name = member(params, 'name')
  if (name === undefined || name.type !== 'String') return 'tools/call params.name must be a string'
  const problem = nameProblem(name.value)
  if (problem !== null) return problem
  const args = member(params, 'arguments')
  if (args !== undefined && args.type !== 'Object') return 'tools/call params.arguments must be an object'
  call.toolName = name.value
  call.arguments = args === undefined ? null : toValue(args)
  return null
}
