// Generates the field reference table of docs/config.md from config/toolgate.schema.json (the
// text between the BEGIN/END GENERATED markers), so the reference cannot drift from the schema.
// `--check` exits 1 when the page is stale (test/config/docs.test.ts runs it).
import { readFile } from 'node:fs/promises'
import { writeGeneratedSection } from './lib/generated-section.js'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const schemaPath = `${root}config/toolgate.schema.json`
const docPath = `${root}docs/config.md`
const BEGIN = '<!-- BEGIN GENERATED FIELDS (scripts/gen-config-docs.js) -->'
const END = '<!-- END GENERATED FIELDS -->'

const schema = JSON.parse(await readFile(schemaPath, 'utf8'))

const deref = (node) => {
  if (!node?.$ref) return node
  const target = schema.definitions[node.$ref.replace('#/definitions/', '')]
  const { $ref, ...own } = node
  return { ...deref(target), ...own }
}

const esc = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ')

function typeOf(n) {
  if (n.const !== undefined) return `\`${JSON.stringify(n.const)}\``
  if (n.enum) return n.enum.map((v) => `\`${v}\``).join(' | ')
  if (n.type === 'array') {
    const items = deref(n.items ?? {})
    return `list of ${items.properties ? 'mappings' : typeOf(items)}`
  }
  if (n.type === 'object' || n.properties || n.oneOf) return 'mapping'
  let t = n.type ?? 'any'
  if (n.format) t += ` (${n.format})`
  if (n.minimum !== undefined || n.maximum !== undefined) t += ` ${n.minimum ?? ''}..${n.maximum ?? ''}`
  return t
}

const rows = []
function walk(node, path) {
  const n = deref(node)
  for (const [key, raw] of Object.entries(n.properties ?? {})) {
    const p = deref(raw)
    const here = path ? `${path}.${key}` : key
    const required = (n.required ?? []).includes(key)
    rows.push({ path: here, type: typeOf(p), def: p.default, required, desc: p.description ?? '' })
    visitChildren(p, here)
  }
}
function visitChildren(p, here) {
  if (p.properties) walk(p, here)
  else if (p.type === 'array' && p.items) {
    const items = deref(p.items)
    if (items.properties) walk(items, `${here}[]`)
  } else if (p.additionalProperties && typeof p.additionalProperties === 'object') {
    const v = deref(p.additionalProperties)
    if (v.oneOf) {
      for (const b of v.oneOf) {
        const branch = deref(b)
        walk(branch, `${here}.<name> (${branch.properties?.type?.const ?? branch.title})`)
      }
    } else if (v.properties) walk(v, `${here}.<name>`)
  }
}
walk(schema, '')

const table = [
  '| field | type | default | description |',
  '| --- | --- | --- | --- |',
  ...rows.map((r) => `| \`${r.path}\`${r.required ? ' (required)' : ''} | ${esc(r.type)} | ${r.def === undefined ? '' : `\`${esc(JSON.stringify(r.def))}\``} | ${esc(r.desc)} |`),
].join('\n')

await writeGeneratedSection({ docPath, begin: BEGIN, end: END, text: table, check: process.argv.includes('--check'), regenerate: 'node scripts/gen-config-docs.js' })
