// What every `toolgate <command>` shares: the Command shape cli.ts dispatches on, and one flag
// parser with one error style. Commands import this module, never cli.ts, so the dispatcher and
// the commands do not import each other (cli.ts loads commands lazily by name).

import { parseArgs, type ParseArgsConfig } from 'node:util'

export interface Command {
  /** One line for `toolgate --help`; the command's own description of itself. */
  summary: string
  /** Full help text; main() prints it for --help / -h unless the command answers help itself. */
  usage: string
  /** The command parses --help itself (it has subcommands or its own help handling). */
  ownHelp?: boolean
  run(argv: string[]): Promise<number>
}

/** parseArgs with a uniform error: unknown flags and missing values become a usage error. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals = false) {
  return parseArgs({ args: argv, options, allowPositionals, strict: true })
}
