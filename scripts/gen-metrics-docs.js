// Generates the metric reference table of docs/metrics.md from proxy/src/record/metric-table.ts
// (the text between the BEGIN/END GENERATED markers), so the page cannot drift from the metrics
// toolgate registers. `--check` exits 1 when the page is stale (test/record/metric-table.test.ts
// runs it). Run with Node 24 (it imports the TypeScript table directly).
import { writeGeneratedSection } from './lib/generated-section.js'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const docPath = `${root}docs/metrics.md`
const BEGIN = '<!-- BEGIN GENERATED METRICS (scripts/gen-metrics-docs.js) -->'
const END = '<!-- END GENERATED METRICS -->'

const { METRICS } = await import(`${root}proxy/src/record/metric-table.ts`)

const esc = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ')
const labels = (row) => row.labels.length === 0 ? '' : row.labels.map((l) => row.labelValues?.[l] ? `\`${l}\` (${row.labelValues[l]})` : `\`${l}\``).join(', ')

const table = [
  '| metric | type | labels | help | registered by |',
  '| --- | --- | --- | --- | --- |',
  ...Object.entries(METRICS).map(([name, row]) =>
    `| \`${name}\` | ${row.type}${row.buckets ? ` (buckets ${row.buckets.join(', ')})` : ''} | ${esc(labels(row))} | ${esc(row.help)} | ${esc(row.owner)} |`),
].join('\n')

await writeGeneratedSection({ docPath, begin: BEGIN, end: END, text: table, check: process.argv.includes('--check'), regenerate: 'node scripts/gen-metrics-docs.js' })
