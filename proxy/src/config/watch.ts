// Hot reload. Watches the config file's *directory*, because Kubernetes updates a mounted
// ConfigMap by writing a new `..2026_...` directory and atomically swapping the `..data` symlink
// that `toolgate.yaml -> ..data/toolgate.yaml` goes through: the file itself is never written, so
// a watch on the file would miss it. Events are debounced, the content is hashed and an
// unchanged content is skipped, and a slow poll backs up fs.watch (which can miss events on some
// filesystems). A new text is validated in full; only a valid config reaches onChange, a bad
// one goes to onError once (per distinct content) and the caller keeps the config it has.

import { watch, type FSWatcher, readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { basename, dirname, resolve } from 'node:path'
import type { Logger } from '../record/log.ts'
import type { ConfigError } from './errors.ts'
import { parseConfigText, readBounded } from './load.ts'
import type { ResolvedConfig } from './resolved.ts'

export interface ConfigWatcherOptions {
  file: string
  logger: Logger
  /** Called with each new valid config; the watcher waits for it before looking again. */
  onChange: (config: ResolvedConfig) => Promise<void> | void
  /** Called when a changed file is invalid (or unreadable, or onChange threw). */
  onError: (errors: ConfigError[]) => void
  /** Quiet time after the last event before the file is read (default 250 ms). */
  debounceMs?: number
  /** Backup poll interval in case fs.watch misses an event (default 10 s; 0 disables). */
  pollMs?: number
  /** Hash (sha256 hex, as in ResolvedConfig.source.hash) of the config already applied; default: the file's content at start(). */
  appliedHash?: string
  /** Environment for the agent identity defaults (default process.env). */
  env?: NodeJS.ProcessEnv
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

export class ConfigWatcher {
  readonly #opts: ConfigWatcherOptions
  readonly #file: string
  readonly #debounceMs: number
  #watcher: FSWatcher | null = null
  #debounce: NodeJS.Timeout | null = null
  #pendingSince = 0
  #poll: NodeJS.Timeout | null = null
  /** Hash of the config in force (the last one onChange accepted). */
  #appliedHash: string | null = null
  /** Hash of the last content looked at, good or bad: the same content is not judged twice. */
  #seenHash: string | null = null
  #running = false
  #again = false
  #closed = false

  constructor(opts: ConfigWatcherOptions) {
    this.#opts = opts
    this.#file = resolve(opts.file)
    this.#debounceMs = opts.debounceMs ?? 250
  }

  start(): void {
    if (this.#watcher || this.#closed) return
    if (this.#opts.appliedHash !== undefined) this.#appliedHash = this.#opts.appliedHash
    else {
      try {
        this.#appliedHash = sha256(new TextDecoder().decode(readFileSync(this.#file))) // decoded as readBounded does
      } catch {
        this.#appliedHash = null
      }
    }
    this.#seenHash = this.#appliedHash
    this.#watchDirectory()
    const pollMs = this.#opts.pollMs ?? 10_000
    if (pollMs > 0) {
      this.#poll = setInterval(() => this.#schedule(), pollMs)
      this.#poll.unref()
    }
  }

  close(): void {
    this.#closed = true
    this.#watcher?.close()
    this.#watcher = null
    if (this.#debounce) clearTimeout(this.#debounce)
    if (this.#poll) clearInterval(this.#poll)
  }

  #watchDirectory(): void {
    const dir = dirname(this.#file)
    try {
      // What matters is the file itself (an editor or kubectl renaming a new file over it is an
      // event on its name) and Kubernetes' '..data' symlink swap. Other entries are ignored, so
      // a busy neighbour (a records file next to the config) cannot keep postponing a reload;
      // an event without a name is checked anyway. The content hash decides what changed.
      const name = basename(this.#file)
      this.#watcher = watch(dir, { persistent: false }, (_event, changed) => {
        if (changed === null || changed === name || changed === '..data') this.#schedule()
      })
      this.#watcher.on('error', (err) => {
        this.#opts.logger.warn('config directory watch failed; relying on polling', { dir, error: err.message })
        this.#watcher?.close()
        this.#watcher = null
      })
    } catch (err) {
      this.#opts.logger.warn('cannot watch the config directory; relying on polling', { dir, error: (err as Error).message })
    }
  }

  #schedule(): void {
    if (this.#closed) return
    // Debounce, but never postpone a check by more than four debounce periods in a row.
    const now = Date.now()
    if (this.#debounce) {
      if (now - this.#pendingSince >= 4 * this.#debounceMs) return
      clearTimeout(this.#debounce)
    } else this.#pendingSince = now
    this.#debounce = setTimeout(() => {
      this.#debounce = null
      void this.#check()
    }, this.#debounceMs)
    this.#debounce.unref()
  }

  async #check(): Promise<void> {
    if (this.#running) {
      this.#again = true
      return
    }
    this.#running = true
    try {
      do {
        this.#again = false
        await this.#checkOnce()
      } while (this.#again && !this.#closed)
    } finally {
      this.#running = false
    }
  }

  async #checkOnce(): Promise<void> {
    const { logger } = this.#opts
    const text = await readBounded(this.#file)
    if (this.#closed) return
    if (typeof text !== 'string') {
      const key = `unreadable:${text.message}`
      if (this.#seenHash === key) return
      this.#seenHash = key
      logger.warn('config file cannot be read; keeping the current config', { file: this.#file, reason: text.message })
      this.#opts.onError([text])
      return
    }
    const hash = sha256(text)
    if (hash === this.#seenHash) {
      logger.debug('config file unchanged', { file: this.#file, hash })
      return
    }
    this.#seenHash = hash
    if (hash === this.#appliedHash) {
      logger.info('config file is back to the content in force; nothing to apply', { file: this.#file, hash })
      return
    }
    const result = parseConfigText(text, this.#opts.file, this.#opts.env ?? process.env)
    if (!result.ok) {
      logger.warn('config change rejected; keeping the current config', { file: this.#file, hash, errors: result.errors.length })
      this.#opts.onError(result.errors)
      return
    }
    try {
      await this.#opts.onChange(result.config)
      this.#appliedHash = hash
      logger.info('config change applied', { file: this.#file, hash, tools: result.config.tools.length })
    } catch (err) {
      const message = `config is valid but could not be applied: ${(err as Error).message}`
      logger.error('config change could not be applied; keeping the current config', { file: this.#file, hash, error: (err as Error).message })
      this.#opts.onError([{ file: this.#opts.file, line: 0, column: 0, path: '', message }])
    }
  }
}
