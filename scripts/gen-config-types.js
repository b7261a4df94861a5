// Generates proxy/src/config/schema.gen.ts from config/toolgate.schema.json, so the TypeScript
// types of the config follow from the one schema. `--check` exits 1 when the file is stale
// (the test suite runs it).
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { compile } from 'json-schema-to-typescript'

const root = fileURLToPath(new URL('..', import.meta.url))
const schemaPath = `${root}config/toolgate.schema.json`
const outPath = `${root}proxy/src/config/schema.gen.ts`

const schema = JSON.parse(await readFile(schemaPath, 'utf8'))
const banner = '// GENERATED from config/toolgate.schema.json by scripts/gen-config-types.js. Do not edit.\n/* eslint-disable */'
const ts = await compile(schema, 'ToolgateConfig', {
  bannerComment: banner,
  additionalProperties: false,
  unreachableDefinitions: true,
  style: { semi: false, singleQuote: true },
})
if (process.argv.includes('--check')) {
  const current = await readFile(outPath, 'utf8').catch(() => '')
  if (current !== ts) {
    console.error(`${outPath} is stale: run npm run gen:types`)
    process.exit(1)
  }
} else {
  await writeFile(outPath, ts)
}
