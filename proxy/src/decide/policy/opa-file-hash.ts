// The digest OPA puts in a bundle signature for one file (bundle/hash.go). Structured documents
// (data.json, .manifest) are hashed over a canonical form of their JSON: keys sorted bytewise,
// no whitespace, strings encoded as Go's encoding/json does (HTML escaping off), numbers as
// their literal text (OPA decodes with UseNumber). Every other file is hashed over its bytes.
// @humanwhocodes/momoa gives the literal number text and sees duplicate keys, which Go would
// resolve silently (last wins); a signed document with duplicate keys is refused instead.

import { createHash } from 'node:crypto'
import { parse } from '@humanwhocodes/momoa'
import type { AnyNode } from '@humanwhocodes/momoa'

const NODE_HASH: Record<string, string> = {
  MD5: 'md5', 'SHA-1': 'sha1', 'SHA-224': 'sha224', 'SHA-256': 'sha256', 'SHA-384': 'sha384',
  'SHA-512': 'sha512', 'SHA-512-224': 'sha512-224', 'SHA-512-256': 'sha512-256',
}

export function isStructuredDoc(path: string): boolean {
  const base = path.slice(path.lastIndexOf('/') + 1)
  return base === 'data.json' || base === '.manifest'
}

/** Go's encoding of a string: JSON.stringify, plus U+2028/U+2029 escaped, lone surrogates as U+FFFD. */
function goString(s: string): string {
  return JSON.stringify(s.toWellFormed()).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029')
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

function canonical(node: AnyNode, text: string, out: string[]): void {
  switch (node.type) {
    case 'Object': {
      const members = new Map<string, AnyNode>()
      for (const m of node.members) {
        const key = m.name.type === 'String' ? m.name.value : m.name.name // Identifier only in JSON5 mode
        if (members.has(key)) throw new Error(`duplicate key ${JSON.stringify(key)}`)
        members.set(key, m.value)
      }
      out.push('{')
      ;[...members.keys()].sort(byteOrder).forEach((k, i) => {
        if (i > 0) out.push(',')
        out.push(goString(k), ':')
        canonical(members.get(k) as AnyNode, text, out)
      })
      out.push('}')
      return
    }
    case 'Array':
      out.push('[')
      node.elements.forEach((e, i) => {
        if (i > 0) out.push(',')
        canonical(e.value, text, out)
      })
      out.push(']')
      return
    case 'String':
      out.push(goString(node.value))
      return
    case 'Number':
      out.push(text.slice(node.loc.start.offset, node.loc.end.offset))
      return
    case 'Boolean':
      out.push(node.value ? 'true' : 'false')
      return
    case 'Null':
      out.push('null')
      return
    default:
      throw new Error(`unexpected JSON node ${node.type}`)
  }
}

export function canonicalJson(bytes: Buffer): string {
  const text = bytes.toString('utf8')
  const doc = parse(text, { mode: 'json' })
  const out: string[] = []
  canonical(doc.body, text, out)
  return out.join('')
}

/** Hex digest of one bundle file as OPA signs it; throws for an unknown algorithm or bad JSON. */
export function opaFileDigest(path: string, bytes: Buffer, algorithm: string): Buffer {
  const nodeAlg = NODE_HASH[algorithm]
  if (!nodeAlg) throw new Error(`unsupported hashing algorithm ${JSON.stringify(algorithm)}`)
  const h = createHash(nodeAlg)
  h.update(isStructuredDoc(path) ? Buffer.from(canonicalJson(bytes), 'utf8') : bytes)
  return h.digest()
}
