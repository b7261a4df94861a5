// Files toolgate ships beside its code (the config schema, the embedded default config, the
// default policy bundle, package.json), located from this one module: it sits two levels below
// the repository (or dist/) root both in the sources and in the single-file bundle that
// `npm run build` writes to dist/proxy/src/cli.js, so every path resolves the same way in both.
import { fileURLToPath } from 'node:url'

export function assetPath(relative: string): string {
  return fileURLToPath(new URL(`../../${relative}`, import.meta.url))
}
