// A file holding secret material (static secret, client secret, private key, projected
// service-account token). Read lazily and re-read when the file changes, so a rotated Kubernetes
// Secret or projected token is picked up without a restart. "Changed" is judged by stat (inode,
// size, mtime), which also follows the ..data symlink swap Kubernetes uses for atomic updates.
// Bounded: files over MAX_SECRET_FILE_BYTES are refused; stat runs at most once per checkMs.
// Errors name the file, never its content.

import { readFile, stat } from 'node:fs/promises'
import { isAbsolute, resolve } from 'node:path'

export const MAX_SECRET_FILE_BYTES = 64 * 1024

export interface SecretValue {
  value: string
  /** Changes whenever the file content may have changed. */
  version: string
}

export class SecretFile {
  readonly path: string
  private readonly checkMs: number
  private readonly now: () => number
  private current: SecretValue | null = null
  private checkedAt = -Infinity
  private inflight: Promise<SecretValue> | null = null

  constructor(path: string, configDir: string, opts: { checkMs?: number; now?: () => number } = {}) {
    this.path = isAbsolute(path) ? path : resolve(configDir, path)
    this.checkMs = opts.checkMs ?? 1000
    this.now = opts.now ?? Date.now
  }

  /** The current content (trimmed). Rejects with an Error that names the file only. */
  read(): Promise<SecretValue> {
    if (this.current && this.now() - this.checkedAt < this.checkMs) return Promise.resolve(this.current)
    // Concurrent readers share one stat/read.
    this.inflight ??= this.load().finally(() => { this.inflight = null })
    return this.inflight
  }

  private async load(): Promise<SecretValue> {
    let st
    try {
      st = await stat(this.path)
    } catch (err) {
      throw new Error(`cannot read secret file ${this.path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
    }
    if (!st.isFile()) throw new Error(`secret file ${this.path} is not a regular file`)
    if (st.size > MAX_SECRET_FILE_BYTES) throw new Error(`secret file ${this.path} is larger than ${MAX_SECRET_FILE_BYTES} bytes`)
    const version = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`
    if (this.current && this.current.version === version) {
      this.checkedAt = this.now()
      return this.current
    }
    let text: string
    try {
      text = (await readFile(this.path, 'utf8')).trim()
    } catch (err) {
      throw new Error(`cannot read secret file ${this.path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
    }
    if (text === '') throw new Error(`secret file ${this.path} is empty`)
    this.current = { value: text, version }
    this.checkedAt = this.now()
    return this.current
  }
}
