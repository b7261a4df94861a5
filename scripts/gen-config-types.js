// Generates proxy/src/config/schema.gen.ts from config/toolgate.schema.json, so the TypeScript
// types of the config follow from the one schema. `--check` exits 1 when the file is stale
// (the test suite runs it). The field table of docs/config.md follows from the same schema, so
// this also runs scripts/gen-config-docs.js (with --check when checking): one command after a
// schema edit. It also regenerates the injector settings' type and defaults from their schema
// (scripts/gen-injector-settings.js).
//
// The schema documents fields with `description`/`default` next to their `$ref` (docs/config.md
// is built from those). json-schema-to-typescript turns every `$ref` with siblings into a fresh
// copy of the referenced type (Listener1, Listener2, ...), so those annotation siblings are
// stripped from the copy given to the compiler: every reference then names the one shared type.
//
// It also writes proxy/src/config/schema-validator.gen.js: ajv's standalone code for the schema,
// so the sidecar validates its config without compiling the schema at start (about 150 ms).
import { spawnSync } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { compile } from 'json-schema-to-typescript'
import { Ajv } from 'ajv'
import standaloneCode from 'ajv/dist/standalone/index.js'
import * as ajvFormats from 'ajv-formats'

const root = fileURLToPath(new URL('..', import.meta.url))
const schemaPath = `${root}config/toolgate.schema.json`
const outPath = `${root}proxy/src/config/schema.gen.ts`

const ANNOTATIONS = new Set(['description', 'default', 'title', 'examples', '$comment'])

/** A deep copy of the schema where a `$ref` keeps no annotation siblings. */
function stripRefAnnotations(node) {
  if (Array.isArray(node)) return node.map(stripRefAnnotations)
  if (node === null || typeof node !== 'object') return node
  const out = {}
  for (const [k, v] of Object.entries(node)) {
    if ('$ref' in node && ANNOTATIONS.has(k)) continue
    out[k] = stripRefAnnotations(v)
  }
  return out
}

const schema = stripRefAnnotations(JSON.parse(await readFile(schemaPath, 'utf8')))
const banner = '// GENERATED from config/toolgate.schema.json by scripts/gen-config-types.js. Do not edit.\n/* eslint-disable */'
const ts = await compile(schema, 'ToolgateConfig', {
  bannerComment: banner,
  additionalProperties: false,
  unreachableDefinitions: true,
  style: { semi: false, singleQuote: true },
})
// The validator: these options are the contract of proxy/src/config/schema-check.ts's error mapping.
const ajv = new Ajv({ allErrors: true, discriminator: true, strict: true, strictRequired: false, allowUnionTypes: true, verbose: true, code: { source: true, esm: true } })
const addFormats = ajvFormats.default?.default ?? ajvFormats.default
addFormats(ajv)
// ajv's standalone code require()s its runtime helpers (CommonJS); they become static imports, so
// esbuild bundles them and dist/ runs without node_modules (a createRequire call would resolve
// them from node_modules at run time, beside the bundle).
const standalone = (standaloneCode.default ?? standaloneCode)(ajv, ajv.compile(JSON.parse(await readFile(schemaPath, 'utf8')))).replace(/^"use strict";/, '')
const helpers = [...new Set([...standalone.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]))]
const validatorCode = '// GENERATED from config/toolgate.schema.json by scripts/gen-config-types.js (ajv standalone). Do not edit.\n' +
  helpers.map((h, i) => `import ajvHelper${i} from '${h}.js'\n`).join('') +
  helpers.reduce((code, h, i) => code.replaceAll(`require("${h}")`, `ajvHelper${i}`), standalone) + '\n'
const validatorPath = `${root}proxy/src/config/schema-validator.gen.js`

for (const [path, content] of [[outPath, ts], [validatorPath, validatorCode]]) {
  if (process.argv.includes('--check')) {
    const current = await readFile(path, 'utf8').catch(() => '')
    if (current !== content) {
      console.error(`${path} is stale: run npm run gen:types`)
      process.exit(1)
    }
  } else {
    await writeFile(path, content)
  }
}

const injector = spawnSync(process.execPath, [`${root}scripts/gen-injector-settings.js`, ...(process.argv.includes('--check') ? ['--check'] : [])], { stdio: 'inherit' })
if (injector.status !== 0) process.exit(injector.status ?? 1)

const docs = spawnSync(process.execPath, [`${root}scripts/gen-config-docs.js`, ...(process.argv.includes('--check') ? ['--check'] : [])], { stdio: 'inherit' })
if (docs.status !== 0) process.exit(docs.status ?? 1)
