// Generates proxy/src/inject/settings.gen.ts from config/injector-settings.schema.json: the
// InjectorSettings type (every field present, as resolved) and the defaults, both taken from the
// one schema, so a new setting is one schema edit. `--check` exits 1 when the file is stale
// (scripts/gen-config-types.js runs this, and the test suite runs that with --check).
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { compile } from 'json-schema-to-typescript'

const root = fileURLToPath(new URL('..', import.meta.url))
const schemaPath = `${root}config/injector-settings.schema.json`
const outPath = `${root}proxy/src/inject/settings.gen.ts`
const schema = JSON.parse(await readFile(schemaPath, 'utf8'))

/** The schema with every property required (the resolved shape) and no annotations beside $ref. */
function resolvedShape(node) {
  if (Array.isArray(node)) return node.map(resolvedShape)
  if (node === null || typeof node !== 'object') return node
  const out = {}
  for (const [k, v] of Object.entries(node)) {
    if ('$ref' in node && (k === 'default' || k === 'description')) continue
    out[k] = resolvedShape(v)
  }
  if (node.properties) out.required = Object.keys(node.properties)
  return out
}

/** The defaults: each property's `default`, objects built from their properties' defaults. */
function defaultsOf(node) {
  if ('default' in node) return node.default
  if (node.properties) return Object.fromEntries(Object.entries(node.properties).map(([k, v]) => [k, defaultsOf(v)]))
  throw new Error(`${schemaPath}: a property has no default`)
}

const ts = await compile(resolvedShape(schema), 'InjectorSettings', {
  bannerComment: '',
  additionalProperties: false,
  style: { semi: false, singleQuote: true },
})
const content = `// GENERATED from config/injector-settings.schema.json by scripts/gen-injector-settings.js. Do not edit.
/* eslint-disable */
${ts.trim()}

/** Every setting's default, from the schema. */
export const SETTINGS_DEFAULTS: InjectorSettings = ${JSON.stringify(defaultsOf(schema), null, 2)}

/** The schema partial settings files are validated with (unknown fields are errors). */
export const SETTINGS_SCHEMA = ${JSON.stringify(schema, null, 2)} as const
`

if (process.argv.includes('--check')) {
  const current = await readFile(outPath, 'utf8').catch(() => '')
  if (current !== content) {
    console.error(`${outPath} is stale: run npm run gen:types`)
    process.exit(1)
  }
} else {
  await writeFile(outPath, content)
}
