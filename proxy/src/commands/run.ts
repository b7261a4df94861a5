// `toolgate run`: start the sidecar, reload the config when its file changes (a bad file keeps
// the last good config, logged and counted), drain and exit on SIGTERM/SIGINT.

import { parseFlags, type Command } from './command.ts'
import { loadConfigOrReport } from './load-config.ts'
import { ConfigWatcher } from '../config/watch.ts'
import { createLogger } from '../record/log.ts'
import { startToolgate } from '../server.ts'
import { parseListenAddress } from '../listen/listen-address.ts'

const USAGE = `usage: toolgate run [--config FILE]

Starts the sidecar. Without --config it runs on the embedded default config
(config/toolgate.default.yaml). The config file is watched: a valid change is applied without
restart, an invalid one is reported and the last good config stays in force.

options:
  -c, --config FILE     toolgate.yaml to use
      --health HOST:PORT  also serve /healthz and /readyz (only those) on this address, for
                        kubelet httpGet probes; the admin listener stays where the config puts it
  -h, --help            show this help
`

export const runCommand: Command = {
  summary: 'start the sidecar (embedded default config unless --config)',
  usage: USAGE,
  async run(argv) {
    const { values } = parseFlags(argv, { config: { type: 'string', short: 'c' }, health: { type: 'string' } })
    const health = values.health === undefined ? undefined : parseListenAddress('--health', values.health)
    if (health instanceof Error) {
      process.stderr.write(`toolgate run: ${health.message}\n`)
      return 2
    }
    const config = await loadConfigOrReport(values.config)
    if (config === null) return 1
    const logger = createLogger({ level: config.logging.level })
    const sidecar = await startToolgate({ config, logger, ...(health ? { health } : {}) })

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
