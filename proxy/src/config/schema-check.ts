// Validates the parsed YAML against config/toolgate.schema.json with ajv (draft-07, all errors,
// formats, discriminated provider types) and turns every ajv error into a ConfigError at the
// line/column of the offending node, with a message a person can act on.

import { readFileSync } from 'node:fs'
import type { ErrorObject, ValidateFunction } from 'ajv'
// ajv's standalone code for the schema, generated (and checked up to date) by
// scripts/gen-config-types.js, so nothing is compiled at start.
import { validate as generatedValidate } from './schema-validator.gen.js'
import type { ConfigError } from './errors.ts'
import { formatPath } from './errors.ts'
import { didYouMean } from './suggest.ts'
import type { ParsedYaml, PathSegment } from './yaml-source.ts'
import { assetPath } from '../assets.ts'

const SCHEMA_PATH = assetPath('config/toolgate.schema.json')

type JsonSchema = { [k: string]: unknown }

/** The schema as shipped (read once; never mutated). */
export const configSchema: JsonSchema = JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as JsonSchema

function validator(): ValidateFunction {
  return generatedValidate as ValidateFunction
}

/** Schema errors for `parsed.value`, each located in the source; [] when valid. */
export function schemaErrors(parsed: ParsedYaml, file: string): ConfigError[] {
  const validate = validator()
  if (validate(parsed.value)) return []
  const out: ConfigError[] = []
  const seen = new Set<string>()
  for (const e of validate.errors ?? []) {
    const mapped = mapError(e, parsed.value)
    if (mapped === null) continue
    const pos = parsed.locate(mapped.path, mapped.at)
    const path = formatPath(mapped.path)
    const key = `${path}\0${mapped.message}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push({ file, line: pos.line, column: pos.column, path, message: mapped.message })
  }
  return out
}

interface MappedError {
  path: PathSegment[]
  at: 'key' | 'value'
  message: string
}

function pointerToPath(pointer: string, data: unknown): PathSegment[] {
  if (pointer === '') return []
  const out: PathSegment[] = []
  let node = data
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(node)) {
      const i = Number(seg)
      out.push(i)
      node = node[i]
    } else {
      out.push(seg)
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[seg] : undefined
    }
  }
  return out
}

function valueAt(data: unknown, path: readonly PathSegment[]): unknown {
  let node = data
  for (const seg of path) {
    if (node === null || typeof node !== 'object') return undefined
    node = (node as Record<string | number, unknown>)[seg]
  }
  return node
}

/** "a list", "the string 'x'", ... for "got ..." clauses. */
function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing (null)'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'a mapping'
  if (typeof value === 'string') return `the string ${JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value)}`
  return `${typeof value} ${String(value)}`
}

const TYPE_WORDS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  integer: 'an integer',
  number: 'a number',
  boolean: 'true or false',
  null: 'null',
}

function refTarget(ref: unknown): JsonSchema | null {
  if (typeof ref !== 'string' || !ref.startsWith('#/definitions/')) return null
  const defs = configSchema.definitions as Record<string, JsonSchema>
  return defs[ref.slice('#/definitions/'.length)] ?? null
}

/** Values a discriminator accepts: the `const` of the tag property in each oneOf branch. */
function discriminatorValues(schema: JsonSchema | undefined, tag: string): string[] {
  const branches = (schema?.oneOf as JsonSchema[] | undefined) ?? []
  const values: string[] = []
  for (const b of branches) {
    const target = b.$ref ? refTarget(b.$ref) : b
    const prop = (target?.properties as Record<string, JsonSchema> | undefined)?.[tag]
    if (typeof prop?.const === 'string') values.push(prop.const)
  }
  return values
}

const METHOD_PATTERN = '^([A-Z]{1,16}|\\*)$'

/** Wording for the schema's patterns, keyed by the pattern text. */
const PATTERN_MESSAGES: Record<string, string> = {
  '^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$': "names use lower-case letters, digits, '-' and '_', start and end with a letter or digit, at most 64 characters",
  [METHOD_PATTERN]: 'an HTTP method in upper case (GET, POST, ...) or * for any',
  '^/': "must start with '/'",
  '^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$': "label keys use letters, digits, '.', '_', '/' and '-', start with a letter or digit, at most 128 characters",
  "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$": 'must be an HTTP header name (letters, digits and !#$%&\'*+.^_`|~-)',
  '\\{token\\}': 'must contain {token} where the credential goes',
}

function mapError(e: ErrorObject, data: unknown): MappedError | null {
  const path = pointerToPath(e.instancePath, data)
  const value = valueAt(data, path)
  const parent = e.parentSchema as JsonSchema | undefined
  const p = e.params as Record<string, unknown>
  switch (e.keyword) {
    case 'additionalProperties': {
      const field = String(p.additionalProperty)
      const known = Object.keys((parent?.properties as object | undefined) ?? {})
      const hint = didYouMean(field, known)
      return { path: [...path, field], at: 'key', message: `unknown field '${field}'${hint || (known.length ? ` (expected one of: ${known.join(', ')})` : '')}` }
    }
    case 'required': {
      const field = String(p.missingProperty)
      return { path, at: 'key', message: `missing required field '${field}'` }
    }
    case 'type': {
      const want = String(p.type).split(',').map((t) => TYPE_WORDS[t] ?? t).join(' or ')
      // YAML reads 127.1, 1.10 or yes-like words as numbers/booleans: say how to keep the text.
      const quote = String(p.type) === 'string' && (typeof value === 'number' || typeof value === 'boolean') ? ` (write it in quotes to keep it as text)` : ''
      return { path, at: 'value', message: `expected ${want}, got ${describe(value)}${quote}` }
    }
    case 'enum': {
      const allowed = (p.allowedValues as unknown[]).map(String)
      const hint = typeof value === 'string' ? didYouMean(value, allowed) : ''
      return { path, at: 'value', message: `expected one of: ${allowed.join(', ')}; got ${describe(value)}${hint}` }
    }
    case 'const':
      return { path, at: 'value', message: `must be ${JSON.stringify(p.allowedValue)}, got ${describe(value)}` }
    case 'pattern': {
      const rule = PATTERN_MESSAGES[String(p.pattern)] ?? (typeof parent?.description === 'string' ? parent.description : `must match ${String(p.pattern)}`)
      // A failing property name (propertyNames) carries the name; the error is about the key.
      if (e.propertyName !== undefined) {
        return { path: [...path, e.propertyName], at: 'key', message: `invalid key ${JSON.stringify(e.propertyName)}: ${rule}` }
      }
      const hint = String(p.pattern) === METHOD_PATTERN && typeof value === 'string' && /^[a-z]+$/i.test(value) ? ` (did you mean '${value.toUpperCase()}'?)` : ''
      return { path, at: 'value', message: `invalid value ${JSON.stringify(value)}: ${rule}${hint}` }
    }
    case 'propertyNames':
      return null // reported by the inner error, which names the key
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, at: 'value', message: `must be ${String(p.comparison)} ${String(p.limit)}, got ${String(value)}` }
    case 'minLength':
      return { path, at: 'value', message: p.limit === 1 ? 'must not be empty' : `must be at least ${String(p.limit)} characters` }
    case 'maxLength':
      return { path, at: 'value', message: `must be at most ${String(p.limit)} characters` }
    case 'minItems':
      return { path, at: 'value', message: `must list at least ${String(p.limit)} item${p.limit === 1 ? '' : 's'}` }
    case 'maxItems':
      return { path, at: 'value', message: `must list at most ${String(p.limit)} items` }
    case 'format': {
      const fmt = String(p.format)
      const what = fmt === 'uri' ? 'an absolute URL (e.g. https://host/path)' : `a valid ${fmt}`
      return { path, at: 'value', message: `expected ${what}, got ${describe(value)}` }
    }
    case 'discriminator': {
      const tag = String(p.tag)
      if (p.error === 'mapping') {
        const allowed = discriminatorValues(parent, tag)
        const got = String(p.tagValue)
        return { path: [...path, tag], at: 'value', message: `unknown ${tag} '${got}': expected one of: ${allowed.join(', ')}${didYouMean(got, allowed)}` }
      }
      return { path: [...path, tag], at: 'value', message: `'${tag}' must be a string` }
    }
    case 'oneOf':
    case 'anyOf':
      return null // the branch errors say what is wrong
    default:
      return { path, at: 'value', message: e.message ?? `invalid (${e.keyword})` }
  }
}
