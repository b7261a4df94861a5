// Paths of the external tools the tests run. scripts/prepare-*.js build them (cached per machine
// under ~/.cache/toolgate) and place them in <repo>/.cache/bin, which is where tests look.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

export function toolPath(name: string): string {
  const p = `${repoRoot}.cache/bin/${name}`
  if (!existsSync(p)) throw new Error(`${p} is missing: run npm test (it runs scripts/prepare-*.js) first`)
  return p
}
