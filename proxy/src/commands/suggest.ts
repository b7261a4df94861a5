// `toolgate suggest --from RECORDS [--config current.yaml] [--out FILE]`: writes an allowlist
// that would allow the reads observed in decision records, with counts and examples as
// comments, and flags writes for review instead of allowing them. The output is validated
// against the config schema before it is written.

import { readFile, writeFile } from 'node:fs/promises'
import { parseFlags, type Command } from './command.ts'
import { parseConfigText } from '../config/load.ts'
import { loadConfigOrReport } from './load-config.ts'
import { formatConfigErrors } from '../config/errors.ts'
import { compileAllowlist } from '../classify/allowlist.ts'
import { parseRecords } from '../suggest/observe.ts'
import { suggest } from '../suggest/suggest.ts'
import { renderSuggestions } from '../suggest/render.ts'

const USAGE = `usage: toolgate suggest --from RECORDS [--config CURRENT] [--out FILE] [--min-distinct N]

Reads decision records (JSON lines written by toolgate) and writes a toolgate.yaml that would
allow the reads that were observed: one tool per destination, one route per generalised path
(ids become {captures}), with counts and examples as comments. Writes (POST, PUT, PATCH,
DELETE, ...) are never allowed silently: they appear as commented-out entries marked REVIEW.
With --config, the current config is kept (comments included) and extended.

options:
  -f, --from FILE         decision records (JSON lines); - for standard input
  -c, --config FILE       current toolgate.yaml to extend
  -o, --out FILE          write here instead of standard output
      --min-distinct N    distinct values at one path position that make it a capture (default 5)
  -h, --help              show this help
`

export const suggestCommand: Command = {
  summary: 'write an allowlist from observed decision records (writes flagged for review)',
  usage: USAGE,
  async run(argv) {
    const { values } = parseFlags(argv, { from: { type: 'string', short: 'f' }, config: { type: 'string', short: 'c' }, out: { type: 'string', short: 'o' }, 'min-distinct': { type: 'string' } })
    if (!values.from) {
      process.stderr.write(`toolgate suggest: --from is required\n${USAGE}`)
      return 2
    }
    const minDistinct = values['min-distinct'] ? Number(values['min-distinct']) : 5
    if (!Number.isInteger(minDistinct) || minDistinct < 2) {
      process.stderr.write('toolgate suggest: --min-distinct must be a whole number of at least 2\n')
      return 2
    }
    const recordsText = values.from === '-' ? await readStdin() : await readFile(values.from, 'utf8')
    const observed = parseRecords(recordsText)

    let currentText: string | null = null
    let allowlist = compileAllowlist([])
    if (values.config) {
      const current = await loadConfigOrReport(values.config)
      if (current === null) return 1
      currentText = current.source.text
      allowlist = compileAllowlist(current.tools)
    }
    const suggestions = suggest(observed.calls, {
      existingNames: allowlist.tools.map((t) => t.name),
      existingToolFor: (c) => allowlist.matchTarget({ scheme: c.scheme, host: c.host, port: c.port })?.name ?? null,
      minDistinct,
    })
    const yaml = renderSuggestions(suggestions, currentText)
    const check = parseConfigText(yaml, values.out ?? '<suggestion>')
    if (!check.ok) {
      process.stderr.write('toolgate suggest: the suggestion does not validate (a bug; please report it):\n' + formatConfigErrors(check.errors) + '\n')
      return 1
    }
    if (values.out) await writeFile(values.out, yaml)
    else process.stdout.write(yaml)
    const routes = suggestions.reduce((n, t) => n + t.routes.filter((r) => !r.review).length, 0)
    const reviews = suggestions.reduce((n, t) => n + t.routes.filter((r) => r.review).length, 0)
    process.stderr.write(`toolgate suggest: ${observed.calls.length} calls read (${observed.skipped} lines skipped); ${suggestions.length} tools, ${routes} read routes suggested, ${reviews} write routes flagged for review\n`)
    return 0
  },
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}
