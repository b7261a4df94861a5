// Strict JSON for bodies toolgate decides on. Two parsers that disagree about a body let an agent
// show the policy one request and the server another, so anything parsers are known to disagree
// about is refused here instead of being resolved one way: invalid UTF-8, a byte order mark,
// duplicate object keys (compared after unescaping, so "a" and "\u0061" collide) and keys that
// collide under case folding or carry NUL/control/format characters (keys.ts), raw control
// characters inside strings, integers too large to survive an IEEE-754 double, numbers that
// overflow to Infinity, and nesting deeper than a fixed bound (also bounds recursion here).
// The AST comes from @humanwhocodes/momoa, which keeps duplicate members instead of merging them.

import { parse as parseAst } from '@humanwhocodes/momoa'
import type { ValueNode, ObjectNode } from '@humanwhocodes/momoa'
import { objectKeysProblem } from './keys.ts'

export type StrictJsonFailure = {
  ok: false
  /** syntax: not JSON at all; ambiguous: JSON that parsers read differently; encoding: not UTF-8; too_large: over the byte or depth bound. */
  kind: 'syntax' | 'ambiguous' | 'encoding' | 'too_large'
  reason: string
}
export type StrictJson = { ok: true; root: ValueNode; text: string } | StrictJsonFailure

export const MAX_JSON_DEPTH = 64

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Parses and validates; the returned AST has already been checked for duplicate keys and numbers. */
export function parseStrictJson(body: Uint8Array, maxBytes: number, maxDepth = MAX_JSON_DEPTH, maxTopLevelElements = Infinity): StrictJson {
  if (body.length > maxBytes) return { ok: false, kind: 'too_large', reason: `body exceeds ${maxBytes} bytes` }
  if (body.length >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) {
    return { ok: false, kind: 'ambiguous', reason: 'body starts with a byte order mark' }
  }
  let text: string
  try {
    text = utf8.decode(body)
  } catch {
    return { ok: false, kind: 'encoding', reason: 'body is not valid UTF-8' }
  }
  const scan = scanStructure(text, maxDepth, maxTopLevelElements)
  if (scan !== null) return scan
  let root: ValueNode
  try {
    root = parseAst(text, { mode: 'json', ranges: true }).body
  } catch (err) {
    return { ok: false, kind: 'syntax', reason: `invalid JSON: ${(err as Error).message}` }
  }
  const problem = checkNode(root, text, '$')
  if (problem !== null) return { ok: false, kind: 'ambiguous', reason: problem }
  return { ok: true, root, text }
}

/**
 * One linear pass for what momoa tolerates or would recurse on: raw control chars in strings,
 * depth, and the element count of a top-level array (a batch too large to decide is refused
 * here, before an AST of thousands of messages is built).
 */
function scanStructure(text: string, maxDepth: number, maxTopLevelElements: number): StrictJsonFailure | null {
  let depth = 0
  let inString = false
  let topLevelCommas = 0
  const rootIsArray = text.trimStart().startsWith('[')
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped character (escapes are validated by the parser)
      else if (c === 0x22) inString = false
      else if (c < 0x20) return { ok: false, kind: 'ambiguous', reason: 'unescaped control character in a string' }
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return { ok: false, kind: 'too_large', reason: `JSON nesting deeper than ${maxDepth}` }
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    } else if (c === 0x2c && depth === 1 && rootIsArray && ++topLevelCommas >= maxTopLevelElements) {
      return { ok: false, kind: 'too_large', reason: `more than ${maxTopLevelElements} messages in one request (limits.max_batch_messages)` }
    }
  }
  return null
}

const INTEGER_LITERAL = /^-?(0|[1-9][0-9]*)$/

function checkNode(node: ValueNode, text: string, at: string): string | null {
  switch (node.type) {
    case 'Object': {
      const keys = objectKeysProblem(node.members.map((m) => memberName(m.name)))
      if (keys !== null) return `${keys} at ${at}`
      for (const m of node.members) {
        const p = checkNode(m.value, text, `${at}.${memberName(m.name)}`)
        if (p !== null) return p
      }
      return null
    }
    case 'Array': {
      for (let i = 0; i < node.elements.length; i++) {
        const p = checkNode(node.elements[i]!.value, text, `${at}[${i}]`)
        if (p !== null) return p
      }
      return null
    }
    case 'Number': {
      if (!Number.isFinite(node.value)) return `number out of range at ${at}`
      const raw = numberText(node, text)
      if (INTEGER_LITERAL.test(raw) && !Number.isSafeInteger(node.value)) return `integer ${raw} at ${at} cannot be represented exactly`
      return null
    }
    case 'String':
      return wellFormed(node.value) ? null : `string with an unpaired surrogate at ${at}`
    default:
      return null
  }
}

function memberName(n: ObjectNode['members'][number]['name']): string {
  return n.type === 'String' ? n.value : n.name
}

/** The number exactly as written (1, 1.0 and 1e0 are different claims to different parsers). */
export function numberText(node: ValueNode, text: string): string {
  const r = node.range
  return r ? text.slice(r[0], r[1]) : String((node as { value: unknown }).value)
}

function wellFormed(s: string): boolean {
  return (s as string & { isWellFormed(): boolean }).isWellFormed()
}

/** Plain JS value of an already checked node (what the policy sees as arguments). */
export function toValue(node: ValueNode): unknown {
  switch (node.type) {
    case 'Object': {
      const out: Record<string, unknown> = {}
      for (const m of node.members) {
        // defineProperty so a "__proto__" key is data, not a prototype change.
        Object.defineProperty(out, memberName(m.name), { value: toValue(m.value), enumerable: true, writable: true, configurable: true })
      }
      return out
    }
    case 'Array':
      return node.elements.map((e) => toValue(e.value))
    case 'String':
    case 'Number':
    case 'Boolean':
      return node.value
    case 'Null':
      return null
    default:
      throw new Error(`unexpected JSON node ${node.type}`)
  }
}

/** Member lookup on an object node (keys are unique once checked). */
export function member(node: ObjectNode, name: string): ValueNode | undefined {
  for (const m of node.members) if (memberName(m.name) === name) return m.value
  return undefined
}

export function memberNames(node: ObjectNode): string[] {
  return node.members.map((m) => memberName(m.name))
}
