#!/usr/bin/env node
// Entry point of the `toolgate` binary. Runs the compiled build (dist/, from `npm run build`)
// when present, else the TypeScript sources directly: Node 24 strips the types itself.
import { existsSync } from 'node:fs'

const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  process.stderr.write(`toolgate needs Node.js 24 or later (this is ${process.version}); run it through npm (npm start), which uses the Node 24 installed by npm ci\n`)
  process.exit(1)
}
const dist = new URL('../dist/proxy/src/cli.js', import.meta.url)
const entry = existsSync(dist) ? dist : new URL('../proxy/src/cli.ts', import.meta.url)
const { main } = await import(entry.href)
process.exitCode = await main(process.argv.slice(2))
