// `toolgate run`: start the sidecar, reload the config when its file changes (a bad file keeps
// the last good config, logged and counted), drain and exit on SIGTERM/SIGINT.

import { parseFlags, type Command } from '../cli.ts'
import { loadConfigFile, loadEmbeddedConfig } from '../config/load.ts'
import { formatConfigErrors } from '../config/errors.ts'
import { ConfigWatcher } from '../config/watch.ts'
import { createLogger } from '../record/log.ts'
import type { ResolvedConfig } from '../config/resolved.ts'
import { startToolgate } from '../server.ts'

const USAGE = `usage: toolgate run [--config FILE]

Starts the sidecar. Without --config it runs on the embedded default config
(config/toolgate.default.yaml). The config file is watched: a valid change is applied without
restart, an invalid one is reported and the last good config stays in force.

options:
  -c, --config FILE   toolgate.yaml to use
  -h, --help          show this help
`

export const runCommand: Command = {
  summary: 'start the sidecar',
  usage: USAGE,
  async run(argv) {
    const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' } })
    if (values.help) {
      process.stdout.write(USAGE)
      return 0
    }
    let config: ResolvedConfig
    if (values.config) {
      const loaded = await loadConfigFile(values.config)
      if (!loaded.ok) {
        process.stderr.write(formatConfigErrors(loaded.errors) + '\n')
        return 1
      }
      config = loaded.config
    } else {
      config = loadEmbeddedConfig()
    }
    const logger = createLogger({ level: config.logging.level })
    const sidecar = await startToolgate({ config, logger })

    let watcher: ConfigWatcher | null = null
    if (values.config) {
      watcher = new ConfigWatcher({
        file: values.config,
        logger,
        appliedHash: config.source.hash,
        onChange: (next) => sidecar.applyConfig(next),
        onError: (errors) => {
          sidecar.metrics.configReloads.inc({ result: 'failure' })
          logger.error('config reload rejected; keeping the last good config', { errors: errors.map((e) => `${e.file}:${e.line}:${e.column}: ${e.path}: ${e.message}`) })
        },
      })
      watcher.start()
    }

    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        logger.info('shutting down', { signal, drain_ms: config.timeouts.shutdown_ms })
        resolve()
      }
      process.once('SIGTERM', () => stop('SIGTERM'))
      process.once('SIGINT', () => stop('SIGINT'))
    })
    watcher?.close()
    await sidecar.close()
    logger.info('stopped')
    return 0
  },
}
