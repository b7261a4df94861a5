// ConfigWatcher on a real filesystem: plain edits, a Kubernetes-style ConfigMap update (new
// timestamped directory + atomic swap of the `..data` symlink), bad changes that keep the last
// good config, and no-op changes that are skipped. fs.watch only (polling off), so the tests
// prove the directory watch sees each kind of change.
import t from 'tap'
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigWatcher } from '../../proxy/src/config/watch.ts'
import { createLogger } from '../../proxy/src/record/log.ts'
import type { ResolvedConfig } from '../../proxy/src/config/resolved.ts'
import type { ConfigError } from '../../proxy/src/config/errors.ts'

const config = (tools: string[]): string =>
  `version: 1\ntools:\n${tools.map((n) => `  - name: ${n}\n    match: { host: ${n}.example.com }\n`).join('')}`

async function waitFor(what: string, predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

function harness(file: string, opts: { onChange?: (c: ResolvedConfig) => void | Promise<void>; pollMs?: number } = {}) {
  const changes: ResolvedConfig[] = []
  const failures: ConfigError[][] = []
  const logs: Array<{ level: string; msg: string }> = []
  const logger = createLogger({ level: 'debug', write: (line) => { logs.push(JSON.parse(line) as { level: string; msg: string }) } })
  const watcher = new ConfigWatcher({
    file,
    logger,
    debounceMs: 50,
    pollMs: opts.pollMs ?? 0,
    onChange: async (c) => {
      await opts.onChange?.(c)
      changes.push(c)
    },
    onError: (e) => { failures.push(e) },
  })
  watcher.start()
  return { watcher, changes, failures, logs, count: (msg: string) => logs.filter((l) => l.msg === msg).length }
}

t.test('a plain file: a good change is applied, a bad one reported, a no-op skipped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-watch-'))
  const file = join(dir, 'toolgate.yaml')
  writeFileSync(file, config(['a']))
  const h = harness(file)
  t.teardown(() => h.watcher.close())

  writeFileSync(file, config(['a', 'b']))
  await waitFor('the good change', () => h.changes.length === 1)
  t.same(h.changes[0]!.tools.map((x) => x.name), ['a', 'b'])
  t.equal(h.changes[0]!.source.file, file)

  writeFileSync(file, config(['a', 'b']) + '  - name: c\n    match: { host: c.example.com, prot: 1 }\n')
  await waitFor('the bad change to be reported', () => h.failures.length === 1)
  const e = h.failures[0]![0]!
  t.same({ line: e.line, column: e.column, path: e.path }, { line: 8, column: 35, path: 'tools[2].match.prot' })
  t.match(e.message, /unknown field 'prot'/)
  t.equal(h.changes.length, 1, 'onChange never sees the bad config')

  const unchanged = h.count('config file unchanged')
  writeFileSync(file, config(['a', 'b']) + '  - name: c\n    match: { host: c.example.com, prot: 1 }\n')
  await waitFor('the rewrite of the same bad content to be looked at', () => h.count('config file unchanged') > unchanged)
  t.equal(h.failures.length, 1, 'the same bad content is reported once')

  writeFileSync(file, config(['a', 'b']))
  await waitFor('the revert to be looked at', () => h.count('config file is back to the content in force; nothing to apply') === 1)
  t.equal(h.changes.length, 1, 'reverting to the config in force applies nothing')

  const before = h.count('config file unchanged')
  writeFileSync(file, config(['a', 'b'])) // same bytes again: a no-op write (touch)
  await waitFor('the no-op write to be looked at', () => h.count('config file unchanged') > before)
  t.equal(h.changes.length, 1, 'no-op change skipped')
  t.equal(h.failures.length, 1)
})

t.test('a Kubernetes ConfigMap update (..data symlink swap) is picked up', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-configmap-'))
  // The layout kubelet's atomic writer makes.
  const v1 = '..2026_01_01_00_00_00.000000001'
  mkdirSync(join(dir, v1))
  writeFileSync(join(dir, v1, 'toolgate.yaml'), config(['a']))
  symlinkSync(v1, join(dir, '..data'))
  symlinkSync('..data/toolgate.yaml', join(dir, 'toolgate.yaml'))
  const file = join(dir, 'toolgate.yaml')
  const h = harness(file)
  t.teardown(() => h.watcher.close())

  const swap = (name: string, text: string, old: string): void => {
    mkdirSync(join(dir, name))
    writeFileSync(join(dir, name, 'toolgate.yaml'), text)
    symlinkSync(name, join(dir, '..data_tmp'))
    renameSync(join(dir, '..data_tmp'), join(dir, '..data')) // atomic replace, as kubelet does
    rmSync(join(dir, old), { recursive: true })
  }

  swap('..2026_01_01_00_01_00.000000002', config(['a', 'b', 'c']), v1)
  await waitFor('the swapped config', () => h.changes.length === 1)
  t.same(h.changes[0]!.tools.map((x) => x.name), ['a', 'b', 'c'])

  swap('..2026_01_01_00_02_00.000000003', 'version: 1\ntools:\n  - name: Bad\n', '..2026_01_01_00_01_00.000000002')
  await waitFor('the bad swap to be reported', () => h.failures.length === 1)
  t.same(h.failures[0]!.map((e) => `${e.line}:${e.column} ${e.path}`), ['3:5 tools[0]', '3:11 tools[0].name'])
  t.equal(h.changes.length, 1, 'last good config kept (onChange not called)')

  swap('..2026_01_01_00_03_00.000000004', config(['d']), '..2026_01_01_00_02_00.000000003')
  await waitFor('recovery after the bad swap', () => h.changes.length === 2)
  t.same(h.changes[1]!.tools.map((x) => x.name), ['d'])
})

t.test('a config that is valid but cannot be applied is reported, and retried only when it changes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-watch-'))
  const file = join(dir, 'toolgate.yaml')
  writeFileSync(file, config(['a']))
  let refuse = true
  const h = harness(file, { onChange: () => { if (refuse) throw new Error('port in use') } })
  t.teardown(() => h.watcher.close())
  writeFileSync(file, config(['x']))
  await waitFor('the apply failure', () => h.failures.length === 1)
  t.match(h.failures[0]![0]!.message, /^config is valid but could not be applied: port in use$/)
  refuse = false
  writeFileSync(file, config(['y']))
  await waitFor('the next change', () => h.changes.length === 1)
  t.same(h.changes[0]!.tools.map((x) => x.name), ['y'])
})

t.test('a deleted file is reported once and keeps the config; close() stops watching', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-watch-'))
  const file = join(dir, 'toolgate.yaml')
  writeFileSync(file, config(['a']))
  const h = harness(file)
  rmSync(file)
  await waitFor('the missing file to be reported', () => h.failures.length === 1)
  t.equal(h.failures[0]![0]!.message, 'config file does not exist')
  h.watcher.close()
  writeFileSync(file, config(['b']))
  await new Promise((r) => setTimeout(r, 300))
  t.equal(h.changes.length, 0, 'nothing after close')
})

t.test('the backup poll catches a change the directory watch cannot see', async (t) => {
  // The config is a symlink to a file in another directory: writes there raise no event in the
  // watched directory, so only the poll can notice them.
  const elsewhere = mkdtempSync(join(tmpdir(), 'toolgate-target-'))
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-watch-'))
  writeFileSync(join(elsewhere, 'real.yaml'), config(['a']))
  symlinkSync(join(elsewhere, 'real.yaml'), join(dir, 'toolgate.yaml'))
  const h = harness(join(dir, 'toolgate.yaml'), { pollMs: 100 })
  t.teardown(() => h.watcher.close())
  writeFileSync(join(elsewhere, 'real.yaml'), config(['polled']))
  await waitFor('the polled change', () => h.changes.length === 1)
  t.same(h.changes[0]!.tools.map((x) => x.name), ['polled'])
})

t.test('a busy neighbour file does not postpone a reload', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'toolgate-watch-'))
  const file = join(dir, 'toolgate.yaml')
  writeFileSync(file, config(['a']))
  const h = harness(file)
  // A records file written every 10 ms next to the config (debounce is 50 ms): before the fix,
  // every write restarted the debounce and the config change was never checked.
  let n = 0
  const noisy = setInterval(() => writeFileSync(join(dir, 'records.jsonl'), String(n++)), 10)
  t.teardown(() => { clearInterval(noisy); h.watcher.close() })
  writeFileSync(file, config(['a', 'z']))
  await waitFor('the change despite the noise', () => h.changes.length === 1, 3000)
  t.same(h.changes[0]!.tools.map((x) => x.name), ['a', 'z'])
})
