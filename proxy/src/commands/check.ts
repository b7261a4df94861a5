// `toolgate check --config FILE`: validates a config (schema, semantics, referenced files, the
// allowlist patterns) and loads the policy bundle it names; prints every problem as
// file:line:col: path: message and exits 1 when there is any.

import { parseFlags, type Command } from './command.ts'
import { loadConfigOrReport } from './load-config.ts'
import { checkReferencedFiles } from '../config/load.ts'
import { formatConfigErrors, type ConfigError } from '../config/errors.ts'
import { Metrics } from '../record/metrics.ts'
import { silentLogger } from '../record/log.ts'

const USAGE = `usage: toolgate check --config FILE

Validates FILE and the policy bundle it names without starting anything. Prints every problem
as file:line:col: field: message, and exits 1 if there is any, 0 otherwise.

options:
  -c, --config FILE   toolgate.yaml to check (required)
  -h, --help          show this help
`

export const checkCommand: Command = {
  summary: 'validate a config and the policy bundle it names; print every problem with file:line:col',
  usage: USAGE,
  async run(argv) {
    const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' } })
    if (!values.config) {
      process.stderr.write(`toolgate check: --config is required\n${USAGE}`)
      return 2
    }
    const config = await loadConfigOrReport(values.config)
    if (config === null) return 1
    const errors: ConfigError[] = [...(await checkReferencedFiles(config))]
    const { PolicyEngine } = await import('../decide/policy/engine.ts')
    const { policyEngineOptions } = await import('../decide/policy/options.ts')
    const engine = await PolicyEngine.start(policyEngineOptions(config.policy, new Metrics({ processMetrics: false }).registry, silentLogger))
    const policy = engine.readiness()
    await engine.close()
    if (!policy.ready) errors.push({ file: config.source.file, line: 0, column: 0, path: 'policy.bundle', message: policy.reason ?? 'policy bundle could not be loaded' })
    if (errors.length > 0) {
      process.stderr.write(formatConfigErrors(errors) + '\n')
      return 1
    }
    process.stdout.write(`${config.source.file}: ok (${config.tools.length} tools, mode ${config.mode}, policy revision ${engine.revision ?? 'none'})\n`)
    return 0
  },
}
