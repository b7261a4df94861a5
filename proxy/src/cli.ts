// The toolgate command line: run, check, decide, suggest, selftest, inject, iptables. Each command is a
// Command (commands/command.ts) defined in its own module, with its own summary, usage and flag
// parsing; this file only maps names to those modules (loaded on demand, so `toolgate check`
// does not load the sidecar) and builds the overview from the commands' own summaries.

import { assetPath } from './assets.ts'
import type { Command } from './commands/command.ts'

/** Name → loader, in the order the overview lists them. */
const commands: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./commands/run.ts')).runCommand,
  check: async () => (await import('./commands/check.ts')).checkCommand,
  decide: async () => (await import('./commands/decide.ts')).decideCommand,
  suggest: async () => (await import('./commands/suggest.ts')).suggestCommand,
  'verify-records': async () => (await import('./commands/verify-records.ts')).verifyRecordsCommand,
  selftest: async () => (await import('./commands/selftest.ts')).selftestCommand,
  inject: async () => (await import('./inject/command.ts')).injectCommand,
  iptables: async () => (await import('./listen/iptables/command.ts')).iptablesCommand,
}

/**
 * The overview, one line per command from its own `summary`. Loading every command costs a few
 * hundred milliseconds, paid only when the overview is printed (--help, no or unknown command).
 */
export async function usage(): Promise<string> {
  const loaded = await Promise.all(Object.entries(commands).map(async ([name, load]) => [name, (await load()).summary] as const))
  const lines = ['usage: toolgate <command> [options]', '', 'commands:']
  for (const [name, summary] of loaded) lines.push(`  ${name.padEnd(16)}${summary}`)
  lines.push('', 'toolgate <command> --help shows the options of a command.')
  return lines.join('\n') + '\n'
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(await usage())
    return name === undefined ? 2 : 0
  }
  if (name === '--version' || name === 'version') {
    const { readFileSync } = await import('node:fs')
    const pkg = JSON.parse(readFileSync(assetPath('package.json'), 'utf8')) as { version: string }
    process.stdout.write(`toolgate ${pkg.version}\n`)
    return 0
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined
  if (!load) {
    process.stderr.write(`toolgate: unknown command '${name}'\n\n${await usage()}`)
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
