// The toolgate command line: run, check, decide, inject, iptables. Each command parses its own
// flags with node:util parseArgs and answers --help; main() returns the exit code.

import { parseArgs, type ParseArgsConfig } from 'node:util'
import { assetPath } from './assets.ts'

export interface Command {
  summary: string
  /** Full help text; main() prints it for --help / -h unless the command answers help itself. */
  usage: string
  ownHelp?: boolean
  run(argv: string[]): Promise<number>
}

const commands: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./commands/run.ts')).runCommand,
  check: async () => (await import('./commands/check.ts')).checkCommand,
  decide: async () => (await import('./commands/decide.ts')).decideCommand,
  suggest: async () => (await import('./commands/suggest.ts')).suggestCommand,
  'verify-records': async () => (await import('./commands/verify-records.ts')).verifyRecordsCommand,
  inject: async () => ({
    summary: 'serve the Kubernetes mutating admission webhook that injects the sidecar',
    usage: 'toolgate inject --help',
    ownHelp: true,
    run: async (argv: string[]) => (await import('./inject/command.ts')).main(argv),
  }),
  iptables: async () => ({
    summary: 'install or remove the iptables rules of transparent interception (init container)',
    usage: 'toolgate iptables install|cleanup --help',
    ownHelp: true,
    run: async (argv: string[]) => (await import('./listen/iptables/command.ts')).main(argv),
  }),
}

const SUMMARIES: Record<string, string> = {
  run: 'start the sidecar (embedded default config unless --config)',
  check: 'validate a config and the policy bundle it names; print every problem with file:line:col',
  decide: 'print the decision for request descriptions (METHOD URL lines or JSON) without sending anything',
  suggest: 'write an allowlist from observed decision records (writes flagged for review)',
  'verify-records': 'check the hash chain and signed checkpoints of a records file',
  inject: 'serve the Kubernetes mutating admission webhook that injects the sidecar',
  iptables: 'install or remove the iptables rules of transparent interception (init container)',
}

export function usage(): string {
  const lines = ['usage: toolgate <command> [options]', '', 'commands:']
  for (const [name, summary] of Object.entries(SUMMARIES)) lines.push(`  ${name.padEnd(16)}${summary}`)
  lines.push('', 'toolgate <command> --help shows the options of a command.')
  return lines.join('\n') + '\n'
}

/** parseArgs with a uniform error: unknown flags and missing values become a usage error. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = false) {
  return parseArgs({ args: argv, options, allowPositionals, strict: true })
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === 'version') {
    const { readFileSync } = await import('node:fs')
    const pkg = JSON.parse(readFileSync(assetPath('package.json'), 'utf8')) as { version: string }
    process.stdout.write(`toolgate ${pkg.version}\n`)
    return 0
  }
  const load = commands[name]
  if (!load) {
    process.stderr.write(`toolgate: unknown command '${name}'\n\n${usage()}`)
    return 2
  }
  const command = await load()
  if (!command.ownHelp && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(command.usage)
    return 0
  }
  try {
    return await command.run(rest)
  } catch (err) {
    const e = err as Error & { code?: string }
    if (e.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`toolgate ${name}: ${e.message}\n${command.usage}\n`)
      return 2
    }
    throw err
  }
}
