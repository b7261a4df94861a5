#!/usr/bin/env node
// Entry point of the `toolgate` binary in the repository: runs the TypeScript sources directly
// (Node 24 strips the types). `npm run build` writes a compiled tree to dist/ with its own
// dist/bin/toolgate.js, for images where start-up time matters.

const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  process.stderr.write(`toolgate needs Node.js 24 or later (this is ${process.version}); run it through npm (npm start), which uses the Node 24 installed by npm ci\n`)
  process.exit(1)
}
await useCompileCache()
const entry = new URL('../proxy/src/cli.ts', import.meta.url)
const { main } = await import(entry.href)
process.exitCode = await main(process.argv.slice(2))

/**
 * Node's on-disk compile cache (V8 code cache of every module toolgate loads): a restarted
 * toolgate skips most of the compiling that dominates its start-up (issue 19). The directory is
 * NODE_COMPILE_CACHE when set (Node has then enabled it already), else <tmpdir>/toolgate-compile-
 * cache-<uid>. Cached code runs as toolgate, so the directory must be ours alone: created 0700,
 * and used only when it is a real directory owned by this user that nobody else can write;
 * otherwise (or when it is not writable, e.g. a read-only filesystem) start-up goes on without
 * the cache, silently. TOOLGATE_COMPILE_CACHE=0 turns it off.
 */
async function useCompileCache() {
  if (process.env.TOOLGATE_COMPILE_CACHE === '0' || process.env.NODE_COMPILE_CACHE) return
  try {
    const { enableCompileCache } = await import('node:module')
    const { mkdirSync, lstatSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const { join } = await import('node:path')
    const uid = process.getuid?.() ?? null
    if (typeof enableCompileCache !== 'function' || uid === null) return
    const dir = join(tmpdir(), `toolgate-compile-cache-${uid}`)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const st = lstatSync(dir)
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0) return
    enableCompileCache(dir)
  } catch {
    // no cache: a slower start, nothing else
  }
}
