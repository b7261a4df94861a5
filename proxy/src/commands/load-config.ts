// Config loading shared by the commands: the file named by --config, or the embedded default.
// Problems are printed as file:line:col lines on stderr; null tells the caller to exit 1.

import { loadConfigFile, loadEmbeddedConfig } from '../config/load.ts'
import { formatConfigErrors } from '../config/errors.ts'
import type { ResolvedConfig } from '../config/resolved.ts'

export async function loadConfigOrReport(file: string | undefined): Promise<ResolvedConfig | null> {
  if (file === undefined) return loadEmbeddedConfig()
  const loaded = await loadConfigFile(file)
  if (loaded.ok) return loaded.config
  process.stderr.write(formatConfigErrors(loaded.errors) + '\n')
  return null
}
