#!/usr/bin/env node
// Entry point of the `toolgate` binary in the repository: runs the TypeScript sources directly
// (Node 24 strips the types). `npm run build` writes a compiled tree to dist/ with its own
// dist/bin/toolgate.js, for images where start-up time matters.

const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  process.stderr.write(`toolgate needs Node.js 24 or later (this is ${process.version}); run it through npm (npm start), which uses the Node 24 installed by npm ci\n`)
  process.exit(1)
}
const entry = new URL('../proxy/src/cli.ts', import.meta.url)
const { main } = await import(entry.href)
process.exitCode = await main(process.argv.slice(2))
